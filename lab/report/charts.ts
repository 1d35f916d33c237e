import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { LabResults, StrategyName } from './results.ts';
import { presentStrategies as present, STRATEGIES } from './results.ts';

/** A chart of the report: a title, the Vega-Lite spec, and the SVG rendered from it in Node. */
export interface Chart {
  id: string;
  title: string;
  svg: string;
}

type VlSpec = vegaLite.TopLevelSpec;

const COLORS: Record<StrategyName, string> = {
  swarmlane: '#1b7f5f',
  'client-server': '#b23a48',
  'plain-bittorrent': '#d98b2b',
};
const colorScale = { domain: [...STRATEGIES], range: STRATEGIES.map((s) => COLORS[s]) };

/** Renders Vega-Lite to SVG without a browser, so the report is one self-contained offline file. */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function infraRateSpec(results: LabResults): VlSpec {
  const values = present(results).flatMap((strategy) =>
    results.strategies[strategy].infraRateSeries.map((p) => ({ strategy, t: p.t, mbps: p.mbps })),
  );
  return {
    width: 640,
    height: 240,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'simulated time (s)' },
      y: { field: 'mbps', type: 'quantitative', title: 'infrastructure egress (Mbit/s)' },
      color: { field: 'strategy', type: 'nominal', scale: colorScale },
    },
  };
}

function completionCdfSpec(results: LabResults): VlSpec {
  const values = present(results).flatMap((strategy) => {
    const times = [...results.strategies[strategy].completionTimes].sort((a, b) => a - b);
    return times.map((t, i) => ({ strategy, t, share: (i + 1) / results.devices }));
  });
  return {
    width: 640,
    height: 240,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after', point: false },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'completion time (simulated s)' },
      y: { field: 'share', type: 'quantitative', title: 'devices done (share)', scale: { domain: [0, 1] } },
      color: { field: 'strategy', type: 'nominal', scale: colorScale },
    },
  };
}

function bytesBySourceSpec(results: LabResults): VlSpec {
  const values = present(results).flatMap((strategy) =>
    Object.entries(results.strategies[strategy].bytesBySource).map(([source, bytes]) => ({
      strategy,
      source,
      copies: bytes / results.releaseBytes,
    })),
  );
  return {
    width: 640,
    height: 160,
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: 'strategy', type: 'nominal', title: null, sort: [...STRATEGIES] },
      x: {
        field: 'copies',
        type: 'quantitative',
        title: 'bytes received, in copies of the release',
        stack: 'zero',
      },
      color: { field: 'source', type: 'nominal', title: 'source' },
    },
  };
}

/** Strategies whose devices talk to each other (client-server has no device-to-device contacts). */
function peerStrategies(results: LabResults): StrategyName[] {
  return present(results).filter((s) => s !== 'client-server');
}

function connectionMatrixSpec(results: LabResults): VlSpec {
  const values = peerStrategies(results).flatMap((strategy) =>
    results.strategies[strategy].connections.map((c) => ({
      strategy,
      from: c.from,
      to: c.to,
      rate: c.attempted === 0 ? 0 : c.succeeded / c.attempted,
      label: `${c.succeeded}/${c.attempted}`,
    })),
  );
  return {
    data: { values },
    facet: { column: { field: 'strategy', type: 'nominal', title: null, sort: [...STRATEGIES] } },
    spec: {
      width: 300,
      height: 300,
      encoding: {
        x: { field: 'to', type: 'nominal', title: 'to (NAT class)' },
        y: { field: 'from', type: 'nominal', title: 'from: the device that sent first (NAT class)' },
      },
      layer: [
        {
          mark: 'rect',
          encoding: {
            color: {
              field: 'rate',
              type: 'quantitative',
              title: 'success',
              scale: { domain: [0, 1], scheme: 'greens' },
            },
          },
        },
        { mark: { type: 'text', fontSize: 10 }, encoding: { text: { field: 'label', type: 'nominal' } } },
      ],
    },
  };
}

export async function buildCharts(results: LabResults): Promise<Chart[]> {
  const specs: Array<[string, string, VlSpec]> = [
    ['infra-rate', 'Infrastructure egress over time (the flash-crowd peak)', infraRateSpec(results)],
    ['completion', 'Completion time distribution', completionCdfSpec(results)],
    ['sources', 'Where the bytes came from', bytesBySourceSpec(results)],
    [
      'connections',
      'Device pairs by NAT class: connected both ways / attempted (from the simulated network)',
      connectionMatrixSpec(results),
    ],
  ];
  const charts: Chart[] = [];
  for (const [id, title, spec] of specs) charts.push({ id, title, svg: await renderSvg(spec) });
  return charts;
}
