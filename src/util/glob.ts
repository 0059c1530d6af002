/**
 * Redis's stringmatchlen: glob-style matching used by KEYS, SCAN MATCH, PSUBSCRIBE,
 * PUBSUB CHANNELS, CONFIG GET... Supports *, ?, [abc], [^abc], [a-z] and \ escapes, with the
 * same edge cases (an unterminated [ matches as if closed; ranges may be reversed). Strings
 * are binary (one char per byte). Includes Redis's guard against exponential backtracking.
 */
export function globMatch(pattern: string, s: string, nocase = false): boolean {
  return match(pattern, 0, s, 0, nocase, { skip: false });
}

const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

function match(p: string, pi: number, s: string, si: number, nocase: boolean, st: { skip: boolean }): boolean {
  const pn = p.length;
  const sn = s.length;
  while (pi < pn && si < sn) {
    const pc = p.charCodeAt(pi);
    if (pc === 42 /* * */) {
      while (pi + 1 < pn && p.charCodeAt(pi + 1) === 42) pi++;
      if (pi + 1 === pn) return true;
      while (si < sn) {
        if (match(p, pi + 1, s, si, nocase, st)) return true;
        if (st.skip) return false;
        si++;
      }
      st.skip = true;
      return false;
    } else if (pc === 63 /* ? */) {
      si++;
    } else if (pc === 91 /* [ */) {
      pi++;
      const not = pi < pn && p.charCodeAt(pi) === 94; /* ^ */
      if (not) pi++;
      let matched = false;
      const c = s.charCodeAt(si);
      for (;;) {
        if (pi < pn && p.charCodeAt(pi) === 92 /* \ */ && pn - pi >= 2) {
          pi++;
          if (p.charCodeAt(pi) === c) matched = true;
        } else if (pi < pn && p.charCodeAt(pi) === 93 /* ] */) {
          break;
        } else if (pi >= pn) {
          pi--;
          break;
        } else if (pn - pi >= 3 && p.charCodeAt(pi + 1) === 45 /* - */) {
          let start = p.charCodeAt(pi);
          let end = p.charCodeAt(pi + 2);
          let cc = c;
          if (start > end) [start, end] = [end, start];
          if (nocase) {
            start = lower(start);
            end = lower(end);
            cc = lower(cc);
          }
          pi += 2;
          if (cc >= start && cc <= end) matched = true;
        } else if (nocase ? lower(p.charCodeAt(pi)) === lower(c) : p.charCodeAt(pi) === c) {
          matched = true;
        }
        pi++;
      }
      if (not) matched = !matched;
      if (!matched) return false;
      si++;
    } else {
      if (pc === 92 /* \ */ && pn - pi >= 2) pi++;
      const a = p.charCodeAt(pi);
      const b = s.charCodeAt(si);
      if (nocase ? lower(a) !== lower(b) : a !== b) return false;
      si++;
    }
    pi++;
    if (si === sn) {
      while (pi < pn && p.charCodeAt(pi) === 42) pi++;
      break;
    }
  }
  return pi === pn && si === sn;
}
