/**
 * Logging with pino: JSON lines on stdout, Redis log levels mapped onto pino's. Quiet by
 * default: notice shows start-up, shutdown and problems only. Secrets (requirepass, AUTH
 * arguments) are never passed to the logger.
 */
import pino, { type Logger } from 'pino';

const LEVELS: Record<string, pino.LevelWithSilent> = {
  debug: 'debug',
  verbose: 'debug',
  notice: 'info',
  warning: 'warn',
  nothing: 'silent',
};

export function pinoLevel(redisLevel: string): pino.LevelWithSilent {
  return LEVELS[redisLevel] ?? 'info';
}

export function createLogger(redisLevel: string): Logger {
  return pino(
    { level: pinoLevel(redisLevel), base: { pid: process.pid }, redact: ['requirepass', 'password', '*.requirepass'] },
    pino.destination({ dest: 1, sync: true }),
  );
}
