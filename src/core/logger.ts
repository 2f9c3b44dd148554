/**
 * The logging contract of the library: a pino-compatible subset. Library code never prints; it takes a
 * Logger. `silentLogger` is the default; the CLI passes pino.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => {};

export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

export interface CapturedLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  bindings: Record<string, unknown>;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps every line in memory: for tests (e.g. searching logs for secrets). */
export function captureLogger(lines: CapturedLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: CapturedLine[] } {
  const make = (level: CapturedLine['level']): LogFn =>
    ((a: unknown, b?: string) => {
      if (typeof a === 'string') lines.push({ level, bindings, obj: {}, msg: a });
      else lines.push({ level, bindings, obj: (a ?? {}) as Record<string, unknown>, msg: b });
    }) as LogFn;
  return {
    lines,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: (more) => captureLogger(lines, { ...bindings, ...more }),
  };
}
