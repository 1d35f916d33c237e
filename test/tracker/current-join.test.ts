import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { devicePercent } from '../../tracker/rollout.ts';
import { announceBody, makeTracker, RELEASE } from './helpers.ts';

const url = `/v1/products/${RELEASE.product}/channels/${RELEASE.channel}/current`;

/** The join body: an announce without release and device id (the call names both). */
function joinAnnounce(deviceId: string) {
  const { release: _release, deviceId: _device, ...rest } = announceBody(deviceId);
  return rest;
}

describe('current release and first announce in one call', () => {
  it('answers the release and joins the device to its swarm, where the next device finds it', async () => {
    const { app } = makeTracker();
    const first = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: 'device-a', announce: joinAnnounce('device-a') },
      remoteAddress: '10.1.0.1',
    });
    expect(first.statusCode).toBe(200);
    const a = first.json();
    expect(a.release).toBe(RELEASE.id);
    expect(a.infoHash).toBe(RELEASE.infoHash);
    expect(a.announce.swarm.leechers).toBe(1);
    expect(typeof a.announce.deviceToken).toBe('string');
    const second = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: 'device-b', announce: joinAnnounce('device-b') },
      remoteAddress: '10.1.0.2',
    });
    const b = second.json();
    expect(b.announce.swarm.leechers).toBe(2);
    expect(b.announce.peers.map((p: { deviceId: string }) => p.deviceId)).toEqual(['device-a']);
  });

  it('does not join a device outside the rollout when it respects the rollout', async () => {
    const { app } = makeTracker({ adminToken: 's3cret' });
    await app.inject({
      method: 'POST',
      url: `/v1/admin/rollouts/${RELEASE.product}/${RELEASE.channel}/start`,
      headers: { authorization: 'Bearer s3cret' },
      payload: { waves: [10, 100] },
    });
    const outside = Array.from({ length: 50 }, (_, i) => `device-${i}`).find(
      (id) => devicePercent(id, RELEASE.id) >= 10,
    ) as string;
    const respecting = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: outside, respectRollout: true, announce: joinAnnounce(outside) },
    });
    expect(respecting.json().eligible).toBe(false);
    expect(respecting.json().announce).toBeUndefined();
    // `agent fetch` does not wait for its wave: joined all the same.
    const fetching = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: outside, respectRollout: false, announce: joinAnnounce(outside) },
    });
    expect(fetching.json().announce.swarm.leechers).toBe(1);
  });

  it('refuses a malformed join with a clear error and answers the release without joining a bad token', async () => {
    const { app } = makeTracker();
    const bad = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: 'device-a', announce: { ...joinAnnounce('device-a'), progress: { have: -1 } } },
    });
    expect(bad.statusCode).toBe(400);
    // A token the tracker never issued: the release is answered, the join left to the device's own announce.
    const joined = await app.inject({
      method: 'POST',
      url,
      payload: { deviceId: 'device-a', announce: joinAnnounce('device-a') },
    });
    expect(joined.json().announce).toBeDefined();
    const forged = await app.inject({
      method: 'POST',
      url,
      payload: {
        deviceId: 'device-a',
        announce: { ...joinAnnounce('device-a'), deviceToken: 'x'.repeat(43) },
      },
    });
    expect(forged.statusCode).toBe(200);
    expect(forged.json().release).toBe(RELEASE.id);
    expect(forged.json().announce).toBeUndefined();
  });

  it('gzips a large answer for a client that offers gzip, and only for one that does', async () => {
    const { app } = makeTracker();
    // Twenty devices in the swarm make the next join's peer list several kilobytes of JSON.
    for (let i = 0; i < 20; i++)
      await app.inject({
        method: 'POST',
        url,
        payload: { deviceId: `device-${i}`, announce: joinAnnounce(`device-${i}`) },
        remoteAddress: `10.1.0.${i + 1}`,
      });
    const ask = (deviceId: string, headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url,
        headers,
        payload: { deviceId, announce: joinAnnounce(deviceId) },
        remoteAddress: '10.1.0.99',
      });
    const plain = await ask('device-x', {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.rawPayload.length).toBeGreaterThan(2048);
    const zipped = await ask('device-y', { 'accept-encoding': 'gzip, deflate' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);
    const decoded = JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8'));
    expect(decoded.release).toBe(RELEASE.id);
    expect(decoded.announce.peers.length).toBeGreaterThanOrEqual(plain.json().announce.peers.length);
  });
});
