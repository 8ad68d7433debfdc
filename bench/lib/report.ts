// Assembling bench/RESULTS.md from a run of `npm run bench` (bench/run.ts): the summary table of
// every scenario's CPU per request, rate and memory (bench/lib/cost.ts), the sections a partial run
// (--only) keeps from the existing report, and hand-written sections carried over unchanged.
import { parseCostComments, SUMMARY_HEADER, summaryRows, type ScenarioCost } from './cost.js';
import { table } from './markdown.js';

export function renderSummary(costs: readonly ScenarioCost[]): string {
  return [
    '## Summary: CPU per request, rate and memory',
    'Per scenario, each proxy\'s rate (req/s, handshakes/s or MB/s), the CPU time of its process tree per request ' +
      '(per handshake, per MB: µs of utime+stime, median over rounds) and its peak RSS, nginx, HAProxy and Weft side by side, ' +
      'from the sections below. On this 2-core machine the load generator and the upstream share one core, so the rate is often ' +
      'their limit, not the proxy\'s; CPU per request is the figure to compare (`Weft CPU vs nginx` < 1: Weft is cheaper). ' +
      'In j each figure is two proxies in a chain.',
    table(SUMMARY_HEADER, summaryRows(costs)),
  ].join('\n\n');
}

/**
 * The sections of the report about to be written, plus those of the existing report (by their
 * "## x." letter) that this run did not redo, in letter order; a kept section says where it is
 * from, and its figures go to the summary marked with that date.
 */
export function keepOtherSections(old: string, fresh: readonly string[]): { sections: string[]; costs: ScenarioCost[] } {
  const letter = (section: string): string | undefined => /^## ([a-z])\. /.exec(section)?.[1];
  const origin = /^Written by `([^`]+)` \(bench\/run\.ts\) on (\S+?)\.?(?: |$)/m.exec(old);
  const from = origin ? `\`${origin[1]}\` on ${origin[2]}` : 'an earlier run';
  const have = new Set(fresh.map(letter));
  const costs: ScenarioCost[] = [];
  const kept = old
    .split(/\n(?=## )/)
    .filter((sec) => {
      const l = letter(sec);
      return l !== undefined && !have.has(l);
    })
    .map((sec) => {
      const text = sec.trimEnd();
      const keptDate = /\n_Kept from the report written by .* on (\S+?);/.exec(text)?.[1] ?? origin?.[2]?.slice(0, 10) ?? 'an earlier run';
      costs.push(...parseCostComments(text, keptDate.slice(0, 10)));
      if (text.includes('\n_Kept from ')) return text;
      const nl = text.indexOf('\n');
      return `${text.slice(0, nl)}\n\n_Kept from the report written by ${from}; not re-run by this command._${text.slice(nl)}`;
    });
  return { sections: [...fresh, ...kept].sort((x, y) => (letter(x) ?? '').localeCompare(letter(y) ?? '')), costs };
}

/**
 * Sections of the existing report that no run writes (e.g. an A/B comparison added by hand after
 * "## Reproduce"): every "## " section that is not lettered, the machine, the summary or Reproduce.
 * They are carried over as they are, after Reproduce.
 */
export function handWrittenSections(old: string): string[] {
  const generated = /^## (?:[a-z]\. |Summary: |(?:Machine|Reproduce)\s*(?:\n|$))/;
  return old
    .split(/\n(?=## )/)
    .filter((sec) => sec.startsWith('## ') && !generated.test(sec))
    .map((sec) => sec.trimEnd());
}

