/**
 * What a run records beside its loss at every report: MLX memory (active, peak, cache), the
 * process's RSS, the system's free memory, the temperature, throughput (all tokens and supervised
 * ones) and the time left. Temperature comes from Linux thermal zones (/sys/class/thermal) and is
 * "unavailable" where none is readable (macOS without privileged tools, containers) — never guessed.
 *
 *   const monitor = new Monitor({ totalSteps: 50, startStep: 0 });
 *   emit(monitor.sample(progressEvent));   // a "monitor" event for metrics.jsonl
 */
import { readdirSync, readFileSync } from "node:fs";
import { freemem } from "node:os";
import type { NativeProgressEvent } from "../native/binding.js";

export interface MonitorEvent {
  type: "monitor";
  iteration: number;
  mlxActiveBytes: number;
  mlxPeakBytes: number;
  mlxCacheBytes: number;
  rssBytes: number;
  systemFreeBytes: number;
  /** Hottest readable thermal zone, °C. */
  temperatureCelsius: number | "unavailable";
  tokensPerSecond: number;
  supervisedTokensPerSecond: number;
  /** Steps the run will have done at its end (the config's iters, or its epochs in steps). */
  totalSteps: number;
  /** Wall-clock seconds to the last step at the pace since this process started training. */
  etaSeconds: number;
}

const THERMAL = "/sys/class/thermal";

/** The hottest thermal zone in °C, or "unavailable". */
export function readTemperature(root = THERMAL): number | "unavailable" {
  let hottest = -Infinity;
  let zones: string[];
  try {
    zones = readdirSync(root).filter((z) => z.startsWith("thermal_zone"));
  } catch {
    return "unavailable";
  }
  for (const z of zones) {
    try {
      const milli = Number(readFileSync(`${root}/${z}/temp`, "utf8").trim());
      if (Number.isFinite(milli)) hottest = Math.max(hottest, milli / 1000);
    } catch {
      // a zone whose sensor cannot be read (EIO, EACCES) is skipped
    }
  }
  return hottest === -Infinity ? "unavailable" : hottest;
}

export class Monitor {
  private readonly started = Date.now();
  private lastTrainedTokens = 0;

  constructor(
    private readonly o: { totalSteps: number; startStep: number; thermalRoot?: string },
  ) {}

  sample(e: NativeProgressEvent): MonitorEvent {
    // The native window's tokens: the running total since the last report.
    const windowTokens = e.trainedTokens - this.lastTrainedTokens;
    this.lastTrainedTokens = e.trainedTokens;
    const stepsDone = e.iteration - this.o.startStep;
    const secondsPerStep = (Date.now() - this.started) / 1000 / Math.max(1, stepsDone);
    return {
      type: "monitor",
      iteration: e.iteration,
      mlxActiveBytes: e.activeMemoryBytes,
      mlxPeakBytes: e.peakMemoryBytes,
      mlxCacheBytes: e.cacheBytes,
      rssBytes: process.memoryUsage.rss(),
      systemFreeBytes: freemem(),
      temperatureCelsius: readTemperature(this.o.thermalRoot),
      tokensPerSecond: e.tokensPerSecond,
      supervisedTokensPerSecond:
        windowTokens > 0 ? (e.tokensPerSecond * e.supervisedTokens) / windowTokens : 0,
      totalSteps: this.o.totalSteps,
      etaSeconds: Math.max(0, this.o.totalSteps - e.iteration) * secondsPerStep,
    };
  }
}
