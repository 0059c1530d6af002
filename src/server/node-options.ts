/**
 * How a Shale process is started: Node.js flags and environment that keep its memory near what
 * it holds. They must be set before Node starts (V8 sizes its heap and glibc its arenas at
 * start-up), so each launcher carries them: bin/shale's first line (`#!/usr/bin/env -S ...`),
 * `npm start`, the Docker image and the benchmarks; test/cli.test.ts and test/docker.test.ts
 * check that they agree with this file.
 *
 * - `--max-semi-space-size=8`: V8 grows the young generation to 2 x 32 MiB under a steady
 *   request load. 2 x 4 MiB took about 70 MiB off the peak RSS of the 1M-element scale run at
 *   maxmemory 256mb, but its more frequent scavenges cost LPUSH 5-8% of its throughput;
 *   2 x 8 MiB measured no slower than V8's default.
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates (the main thread, the engine's
 *   worker, libuv's pool, V8's helpers) an arena of its own, and freed memory stays in them;
 *   two arenas took about 75 MiB more off that peak.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
export const NODE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
