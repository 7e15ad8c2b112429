/** A progress bar per mode (done, elapsed, ETA) on a terminal; nothing otherwise. */
import { SingleBar } from "cli-progress";

export interface ModeProgress {
  update(done: number, total: number): void;
  stop(): void;
}

export function modeProgress(mode: string, total: number, enabled: boolean): ModeProgress {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar({
    format: `${mode.padEnd(5)} [{bar}] {value}/{total} invocations | elapsed {duration}s | ETA {eta}s`,
    hideCursor: true,
    etaBuffer: 50,
  });
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}
