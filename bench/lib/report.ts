/**
 * Formatting and output for benchmark results: number formatting, ratios, markdown tables,
 * and writing bench/results/<name>.md and <name>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './machine.ts';

export const resultsDir = path.join(repoRoot, 'bench', 'results');

/** A value that could not be measured, with the reason. */
export interface NotAvailable {
  na: string;
}

export type Measured = number | NotAvailable;

export function isNA(v: unknown): v is NotAvailable {
  return typeof v === 'object' && v !== null && 'na' in v;
}

export function na(reason: string): NotAvailable {
  return { na: reason };
}

function sig(n: number, digits = 3): string {
  if (n === 0) return '0';
  const abs = Math.abs(n);
  if (abs >= 10 ** digits) return Math.round(n).toString();
  return Number(n.toPrecision(digits)).toString();
}

/** 1234567 -> "1.23M", 4321 -> "4.32k". */
export function fmtCount(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${sig(n / 1e9)}G`;
  if (abs >= 1e6) return `${sig(n / 1e6)}M`;
  if (abs >= 1e3) return `${sig(n / 1e3)}k`;
  return sig(n);
}

export function fmtRate(perSec: Measured, unit = '/s'): string {
  return isNA(perSec) ? `n/a (${perSec.na})` : `${fmtCount(perSec)}${unit}`;
}

export function fmtMs(ms: Measured): string {
  if (isNA(ms)) return `n/a (${ms.na})`;
  if (ms < 1) return `${sig(ms * 1000)} µs`;
  if (ms < 1000) return `${sig(ms)} ms`;
  return `${sig(ms / 1000)} s`;
}

export function fmtNum(n: Measured, digits = 3): string {
  return isNA(n) ? `n/a (${n.na})` : sig(n, digits);
}

/** a / b as "12.3x", or "n/a" if either side is missing or b is 0. */
export function fmtRatio(a: Measured, b: Measured): string {
  if (isNA(a) || isNA(b) || b === 0) return 'n/a';
  const r = a / b;
  return `${r >= 100 ? Math.round(r) : sig(r)}x`;
}

export function ratio(a: Measured, b: Measured): number | null {
  if (isNA(a) || isNA(b) || b === 0) return null;
  return a / b;
}

/** 'met' / 'NOT met' / '' for a tri-state check. */
export function fmtMet(met: boolean | undefined): string {
  return met === undefined ? '' : met ? 'met' : '**NOT met**';
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function mdTable(headers: string[], rows: string[][]): string {
  const out = [`| ${headers.map(cell).join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

/** A plain-text table for the terminal (column-aligned). */
export function textTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Writes bench/results/<name>.md and <name>.json; returns their paths. */
export function writeResults(name: string, markdown: string, json: unknown): { md: string; json: string } {
  mkdirSync(resultsDir, { recursive: true });
  const md = path.join(resultsDir, `${name}.md`);
  const js = path.join(resultsDir, `${name}.json`);
  writeFileSync(md, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  writeFileSync(js, `${JSON.stringify(json, jsonReplacer, 2)}\n`);
  return { md, json: js };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}
