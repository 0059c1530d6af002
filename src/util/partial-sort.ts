/**
 * Partial quicksort: sorts `a` in place so that positions lrange..rrange hold what a full sort
 * would put there. It is the BSD quicksort (median-of-three pivots, fat partition, insertion
 * sort below 7 elements) that Redis's pqsort is, pruned to the ranges that matter. Redis uses it
 * for GEOSEARCH ... COUNT, so taking its exact steps gives the order among equal distances that
 * Redis gives.
 */
export function partialSort<T>(a: T[], cmp: (x: T, y: T) => number, lrange: number, rrange: number): void {
  const swap = (i: number, j: number): void => {
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  };
  const c = (i: number, j: number): number => cmp(a[i]!, a[j]!);
  const med3 = (x: number, y: number, z: number): number =>
    c(x, y) < 0 ? (c(y, z) < 0 ? y : c(x, z) < 0 ? z : x) : c(y, z) > 0 ? y : c(x, z) < 0 ? x : z;
  // Whether the elements lo..hi lie wholly before or after the wanted range.
  const outside = (lo: number, hi: number): boolean => (lrange < lo && rrange < lo) || (lrange > hi && rrange > hi);

  const sort = (lo: number, n: number): void => {
    for (;;) {
      if (n < 7) {
        for (let m = lo + 1; m < lo + n; m++) for (let l = m; l > lo && c(l - 1, l) > 0; l--) swap(l, l - 1);
        return;
      }
      let pm = lo + Math.floor(n / 2);
      if (n > 7) {
        let pl = lo;
        let pn = lo + n - 1;
        if (n > 40) {
          const d = Math.floor(n / 8);
          pl = med3(pl, pl + d, pl + 2 * d);
          pm = med3(pm - d, pm, pm + d);
          pn = med3(pn - 2 * d, pn - d, pn);
        }
        pm = med3(pl, pm, pn);
      }
      swap(lo, pm);
      // Fat partition: equal keys gather at both ends, then move to the middle.
      let pa = lo + 1;
      let pb = pa;
      let pc = lo + n - 1;
      let pd = pc;
      for (;;) {
        let r: number;
        while (pb <= pc && (r = c(pb, lo)) <= 0) {
          if (r === 0) swap(pa++, pb);
          pb++;
        }
        while (pb <= pc && (r = c(pc, lo)) >= 0) {
          if (r === 0) swap(pc, pd--);
          pc--;
        }
        if (pb > pc) break;
        swap(pb++, pc--);
      }
      const end = lo + n;
      let r = Math.min(pa - lo, pb - pa);
      for (let k = 0; k < r; k++) swap(lo + k, pb - r + k);
      r = Math.min(pd - pc, end - pd - 1);
      for (let k = 0; k < r; k++) swap(pb + k, end - r + k);
      if ((r = pb - pa) > 1 && !outside(lo, lo + r - 1)) sort(lo, r);
      if ((r = pd - pc) <= 1) return;
      lo = end - r;
      n = r;
      if (outside(lo, lo + r - 1)) return;
    }
  };
  sort(0, a.length);
}
