import { describe, expect, it } from 'vitest';
import { devicePercent } from '../../tracker/rollout.ts';
import { announceBody, KEY, makeTracker, RELEASE } from './helpers.ts';

const auth = { authorization: 'Bearer s3cret' };
const base = `/v1/admin/rollouts/${RELEASE.product}/${RELEASE.channel}`;
const current = (device: string) =>
  `/v1/products/${RELEASE.product}/channels/${RELEASE.channel}/current?device=${device}`;
const ids = Array.from({ length: 400 }, (_, i) => `device-${String(i).padStart(5, '0')}`);

describe('rollout', () => {
  it('offers the release wave by wave, deterministically per device', async () => {
    const { app } = makeTracker({ adminToken: 's3cret' });
    const eligibleShare = async () => {
      let n = 0;
      for (const id of ids) if ((await app.inject({ method: 'GET', url: current(id) })).json().eligible) n++;
      return n / ids.length;
    };
    expect(await eligibleShare()).toBe(1); // no rollout started: everyone
    const start = await app.inject({
      method: 'POST',
      url: `${base}/start`,
      headers: auth,
      payload: { waves: [10, 50, 100] },
    });
    expect(start.json()).toMatchObject({ state: 'running', wave: 0, percent: 10 });
    const first = await eligibleShare();
    expect(first).toBeGreaterThan(0.05);
    expect(first).toBeLessThan(0.15);
    for (const id of ids.slice(0, 50)) {
      const eligible = (await app.inject({ method: 'GET', url: current(id) })).json().eligible;
      expect(eligible).toBe(devicePercent(id, RELEASE.id) < 10);
    }
    await app.inject({ method: 'POST', url: `${base}/advance`, headers: auth });
    const second = await eligibleShare();
    expect(second).toBeGreaterThan(0.4);
    expect(second).toBeLessThan(0.6);
    await app.inject({ method: 'POST', url: `${base}/pause`, headers: auth });
    expect(await eligibleShare()).toBe(0);
    await app.inject({ method: 'POST', url: `${base}/resume`, headers: auth });
    const done = await app.inject({ method: 'POST', url: `${base}/advance`, headers: auth });
    expect(done.json()).toMatchObject({ state: 'complete', percent: 100 });
    expect(await eligibleShare()).toBe(1);
  });

  it('halts automatically when install failures in the current wave pass count and rate', async () => {
    const { app } = makeTracker({ adminToken: 's3cret' });
    await app.inject({
      method: 'POST',
      url: `${base}/start`,
      headers: auth,
      payload: { waves: [50, 100], failureCount: 3, failureRate: 0.5 },
    });
    const inWave = ids.filter((id) => devicePercent(id, RELEASE.id) < 50).slice(0, 6);
    const report = async (id: string, outcome: string) => {
      const a = await app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announceBody(id),
        remoteAddress: '10.1.0.1',
      });
      const token = a.json().deviceToken;
      const bytes = { peerSameIsp: 0, peerOtherIsp: 0, edge: 0, cdn: 10 };
      const r = await app.inject({
        method: 'POST',
        url: '/v1/report',
        payload: { deviceId: id, deviceToken: token, release: RELEASE.id, bytes, uploaded: 0, outcome },
      });
      expect(r.statusCode).toBe(202);
    };
    await report(inWave[0] as string, 'installed');
    await report(inWave[1] as string, 'install-failed');
    await report(inWave[2] as string, 'install-failed');
    expect((await app.inject({ method: 'GET', url: base, headers: auth })).json().state).toBe('running');
    await report(inWave[3] as string, 'install-failed');
    const halted = (await app.inject({ method: 'GET', url: base, headers: auth })).json();
    expect(halted.state).toBe('halted');
    expect(halted.reason).toMatch(/3 of 4 installs failed in wave 0/);
    expect((await app.inject({ method: 'GET', url: current(inWave[4] as string) })).json().eligible).toBe(
      false,
    );
    const advance = await app.inject({ method: 'POST', url: `${base}/advance`, headers: auth });
    expect(advance.json().error.code).toBe('ROLLOUT_CONFLICT');
  });

  it('keeps the admin API behind the bearer token', async () => {
    const { app } = makeTracker({ adminToken: 's3cret' });
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic s3cret' }]) {
      const res = await app.inject({ method: 'POST', url: `${base}/start`, headers, payload: {} });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHORIZED');
    }
    const disabled = makeTracker();
    expect((await disabled.app.inject({ method: 'GET', url: base, headers: auth })).statusCode).toBe(401);
    const bad = await app.inject({
      method: 'POST',
      url: `${base}/start`,
      headers: auth,
      payload: { waves: [50, 20] },
    });
    expect(bad.json().error.code).toBe('BAD_REQUEST');
    const junk = await app.inject({
      method: 'POST',
      url: `${base}/start`,
      headers: auth,
      payload: { waves: 'all' },
    });
    expect(junk.json().error.code).toBe('BAD_REQUEST');
    const defaults = await app.inject({ method: 'POST', url: `${base}/start`, headers: auth });
    expect(defaults.json()).toMatchObject({ waves: [1, 10, 50, 100], state: 'running' });
  });
});

describe('edge registry', () => {
  const edge = (id: string, region: string, load: number) => ({
    id,
    address: { host: '10.1.9.9', port: 7000 },
    publicKey: KEY,
    region,
    capacity: 1_000_000,
    load,
  });

  it('lists the best edges for a region, hands a new edge out on the next announce, expires silent ones', async () => {
    const { app, clock } = makeTracker();
    await app.inject({ method: 'POST', url: '/v1/edges', payload: edge('eu-busy', 'eu', 0.9) });
    await app.inject({ method: 'POST', url: '/v1/edges', payload: edge('us-idle', 'us', 0.0) });
    const first = await app.inject({
      method: 'POST',
      url: '/v1/announce',
      payload: announceBody('device-0001'),
      remoteAddress: '10.1.0.1',
    });
    const token = first.json().deviceToken;
    expect(first.json().edges.map((e: { id: string }) => e.id)).toEqual(['eu-busy', 'us-idle']);

    await app.inject({ method: 'POST', url: '/v1/edges', payload: edge('eu-idle', 'eu', 0.1) });
    const next = await app.inject({
      method: 'POST',
      url: '/v1/announce',
      payload: announceBody('device-0001', { deviceToken: token }),
      remoteAddress: '10.1.0.1',
    });
    expect(next.json().edges.map((e: { id: string }) => e.id)).toEqual(['eu-idle', 'eu-busy', 'us-idle']);

    // eu-idle keeps its heartbeat; the others miss two (10 s interval + 5 s grace).
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      const hb = await app.inject({
        method: 'POST',
        url: '/v1/edges/heartbeat',
        payload: { id: 'eu-idle', load: 0.2 },
      });
      expect(hb.statusCode).toBe(200);
    }
    const later = await app.inject({ method: 'GET', url: '/v1/edges?region=eu' });
    expect(later.json().edges.map((e: { id: string }) => e.id)).toEqual(['eu-idle']);
    const gone = await app.inject({
      method: 'POST',
      url: '/v1/edges/heartbeat',
      payload: { id: 'eu-busy', load: 0 },
    });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('EDGE_UNKNOWN');
  });

  it('requires the edge token when one is configured and validates registrations', async () => {
    const { app } = makeTracker({ edgeToken: 'edge-key' });
    expect(
      (await app.inject({ method: 'POST', url: '/v1/edges', payload: edge('e1', 'eu', 0) })).statusCode,
    ).toBe(401);
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/edges',
      headers: { authorization: 'Bearer edge-key' },
      payload: edge('e1', 'eu', 0),
    });
    expect(ok.statusCode).toBe(200);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/edges',
      headers: { authorization: 'Bearer edge-key' },
      payload: { ...edge('e2', 'eu', 0), load: 7 },
    });
    expect(bad.json().error.code).toBe('BAD_REQUEST');
  });
});

describe('byte accounting', () => {
  it('aggregates reports per release, ISP and region and exposes offload and metrics', async () => {
    const { app } = makeTracker();
    const send = async (id: string, ip: string, bytes: Record<string, number>, completionMs: number) => {
      const a = await app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announceBody(id),
        remoteAddress: ip,
      });
      return app.inject({
        method: 'POST',
        url: '/v1/report',
        remoteAddress: ip,
        payload: {
          deviceId: id,
          deviceToken: a.json().deviceToken,
          release: RELEASE.id,
          bytes,
          uploaded: 500,
          completionMs,
          outcome: 'downloaded',
        },
      });
    };
    await send(
      'device-a-001',
      '10.1.0.1',
      { peerSameIsp: 600, peerOtherIsp: 100, edge: 200, cdn: 100 },
      1000,
    );
    await send('device-b-001', '10.4.0.1', { peerSameIsp: 0, peerOtherIsp: 0, edge: 0, cdn: 1000 }, 3000);
    const stats = (await app.inject({ method: 'GET', url: `/v1/releases/${RELEASE.id}/stats` })).json();
    expect(stats.total).toMatchObject({
      total: 2000,
      cdn: 1100,
      uploaded: 1000,
      reports: 2,
      meanCompletionMs: 2000,
    });
    expect(stats.total.offloadPercent).toBeCloseTo(35);
    expect(stats.byIsp['isp-a'].offloadPercent).toBeCloseTo(70);
    expect(stats.byIsp['isp-b'].offloadPercent).toBe(0);
    expect(stats.byRegion.us.cdn).toBe(1000);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/swarmlane_tracker_reported_bytes_total\{source="cdn"\} 1100/);
    expect(metrics).toMatch(/swarmlane_tracker_announces_total\{api="v1",event="update"\} 2/);
    const wrongToken = await app.inject({
      method: 'POST',
      url: '/v1/report',
      payload: {
        deviceId: 'device-a-001',
        deviceToken: 'A'.repeat(32),
        release: RELEASE.id,
        bytes: { peerSameIsp: 0, peerOtherIsp: 0, edge: 0, cdn: 0 },
        uploaded: 0,
        outcome: 'downloaded',
      },
    });
    expect(wrongToken.json().error.code).toBe('DEVICE_ID_TAKEN');
  });
});
