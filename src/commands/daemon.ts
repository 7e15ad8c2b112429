/**
 * `alps daemon`: run on a worker host. Thin: config → checks (nothing on
 * the host changed yet) → recovery of a hard-killed predecessor's tasks →
 * touched-task record and guardian → backend (mode selection) → Daemon →
 * control API + metrics (+ platform adapter); the loop itself is
 * src/frontend/daemon.ts, the signals daemon-signals.ts.
 */
import type { Command } from "commander";
import { CONFIG_KEYS, type DaemonConfig, loadConfig, sliceSettings } from "../frontend/config.js";
import type { Log } from "../frontend/log.js";
import { configFlags, configOption } from "./config-option.js";
import { DaemonSignals } from "./daemon-signals.js";

/** The daemon's log: replaced by the configured one (level, format) once the config is read. */
let log: Log = (message) => {
  process.stderr.write(`${new Date().toISOString()} alps daemon: ${message}\n`);
};

export function registerDaemon(program: Command): void {
  const cmd = program
    .command("daemon")
    .description("run on a worker host: learn per-function priorities and slices, enforce them")
    .option(
      "--config <file>",
      "config file, JSON or YAML, keyed by the options' names in camelCase (env: ALPS_CONFIG)",
    )
    .addHelpText(
      "after",
      "\nEach option is also a config-file key (camelCase) and a variable; flags beat variables,\nvariables beat the file, the file beats the defaults. All of them: docs/config.md.",
    );
  for (const key of CONFIG_KEYS) cmd.addOption(configOption(key));
  cmd.action(async (opts: Record<string, unknown>) => {
    // From the first moment: a signal that would end the daemon while it
    // starts waits for the start, so it finds the tasks to restore.
    const signals = new DaemonSignals((message, level) => log(message, level));
    const flags = configFlags(opts, CONFIG_KEYS);
    const configFile =
      typeof opts.config === "string" ? opts.config : process.env.ALPS_CONFIG || undefined;
    // The same sources on each SIGHUP: the file is read again, flags still win.
    const load = (): DaemonConfig =>
      loadConfig({
        ...(configFile !== undefined ? { configFile } : {}),
        env: process.env,
        flags,
      });
    await runDaemon(load(), load, signals);
  });
}

async function runDaemon(
  config: DaemonConfig,
  reloadConfig: () => DaemonConfig,
  signals: DaemonSignals,
): Promise<void> {
  const { createLog } = await import("../frontend/log.js");
  log = createLog({ level: config.logLevel, format: config.logFormat });
  // Everything is checked before anything on the host changes.
  const { preflight } = await import("./daemon-preflight.js");
  const checked = preflight(config, log);
  const [
    { Daemon },
    { ApiServer },
    { DaemonMetrics },
    { createBackend },
    selfPriority,
    { loadSyscalls },
    touchedMod,
    { GuardianSupervisor },
    instance,
    { RealtimeCap },
    { policyLogger },
    { recoverLeftTasks },
    { Ticker },
    { realClock },
    { armingRecord },
    { IDLE_HEARTBEAT_MS, IDLE_TIMEOUT_MS },
  ] = await Promise.all([
    import("../frontend/daemon.js"),
    import("../frontend/api/server.js"),
    import("../frontend/metrics.js"),
    import("../backend/select.js"),
    import("../backend/actuator/self-priority.js"),
    import("../host/syscalls.js"),
    import("../backend/guardian/touched.js"),
    import("../backend/guardian/guardian-supervisor.js"),
    import("../frontend/instance.js"),
    import("../frontend/rt-cap.js"),
    import("../frontend/policy-changes.js"),
    import("../backend/guardian/recover.js"),
    import("../frontend/ticker.js"),
    import("../frontend/clock.js"),
    import("../frontend/arming.js"),
    import("../backend/guardian/guardian.js"),
  ]);
  // The periodic housekeeping (heartbeat, RT cap, socket check, learner) on one
  // 250 ms tick: an idle daemon's CPU is mostly its wake-ups. With nothing
  // changed on the host it slows to the idle heartbeat (src/frontend/arming.ts).
  const ticker = new Ticker(250, {
    idleMs: IDLE_HEARTBEAT_MS,
    onSwitch: (idle) =>
      log(
        idle
          ? `nothing changed on the host: idle tick, heartbeat every ${IDLE_HEARTBEAT_MS} ms`
          : "fast tick: heartbeat every 250 ms",
        "debug",
      ),
  });

  // One daemon per state directory (a lock), and per host (no alps BPF programs attached yet).
  const lock = instance.lockStateDir(config.stateDir);
  const mayUseBpf = config.mode !== "sfs" && config.sensor !== "proc" && !config.noBpf;
  try {
    if (mayUseBpf) instance.checkNoOtherBpfInstance(config.allowSecondInstance, log);
  } catch (error) {
    lock.release();
    throw error;
  }

  // A daemon killed together with its guardian left its tasks changed: put them back first.
  try {
    recoverLeftTasks(config.stateDir, loadSyscalls().syscalls, log);
  } catch (error) {
    lock.release();
    throw error;
  }

  // Every task the backend changes is recorded first, and a guardian restores them if we die (safety invariant 3, docs/safety.md).
  let touched: ReturnType<typeof touchedMod.createTouchedTasks>;
  try {
    touched = touchedMod.createTouchedTasks({
      stateDir: config.stateDir,
      bytes: config.recordBytes,
    });
  } catch (error) {
    lock.release();
    throw error;
  }
  // Set once the backend and the daemon exist: the guardian's news is acted on from then on.
  let onGuardianLost: ((why: string) => void) | undefined;
  let onGuardianBack: ((pid: number) => void) | undefined;
  let onGuardianRestored: ((changed: number) => void) | undefined;
  /** The last heartbeat said idle (logged once each time it starts to). */
  let beatIdle = false;
  const guardian = await GuardianSupervisor.start({
    file: touched.path,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    idle: () => {
      const idle = ticker.idle;
      if (idle && !beatIdle)
        log(
          `idle heartbeat: the guardian allows ${IDLE_TIMEOUT_MS} ms of silence while nothing is changed`,
          "debug",
        );
      beatIdle = idle;
      return idle;
    },
    every: ticker.every,
    log,
    onLost: (why) => onGuardianLost?.(why),
    onBack: (pid) => onGuardianBack?.(pid),
    onRestored: (changed) => onGuardianRestored?.(changed),
  });

  // The tick first, so the beat arm() may send says "not idle".
  const record = armingRecord(touched, () => {
    ticker.wake();
    guardian.arm();
  });
  // Requests arrive between heartbeats: any one brings the fast tick back (the RT cap's check with it).
  let requested = false;
  const requestSeen = (): void => {
    requested = true;
    ticker.wake();
  };

  let created: Awaited<ReturnType<typeof createBackend>>;
  try {
    created = await createBackend({
      mode: config.mode,
      ...(config.sensor !== undefined ? { sensor: config.sensor } : {}),
      strategy: config.strategy,
      ...sliceSettings(config),
      idleFrom: config.idleFromNice,
      yieldBound: config.yieldBound,
      levelStep: config.levelStep,
      noBpf: config.noBpf,
      // The first entry wakes the tick (and beats at once after an idle beat), before the change it precedes.
      touched: record,
      log,
    });
  } catch (error) {
    // Nothing was changed yet: release the record and dismiss the guardian cleanly.
    touched.close();
    await guardian.stop();
    lock.release();
    throw new Error(
      `no backend for mode ${config.mode}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const { backend, reasons } = created;
  const st = backend.status();
  log(
    `mode ${backend.mode} (sensor ${backend.sensor}${st.strategy ? `, strategy ${st.strategy}` : ""}) because: ${reasons.join("; ") || "requested"}`,
  );

  const daemon = new Daemon({
    backend,
    config,
    reasons,
    log,
    clock: { ...realClock, every: ticker.every },
    ...(checked.policy !== undefined ? { policy: checked.policy } : {}),
  });
  daemon.safety.guardian = true;
  // Idle: nothing recorded, no invocation open, no request since the last tick.
  ticker.setBusy(() => {
    const busy = requested || !record.empty || daemon.openInvocations > 0;
    requested = false;
    return busy;
  });

  // The daemon's threads run above anything it gives a function, so it can always undo what it did (safety invariant 2).
  let realtime = false;
  if (config.realtimePriority > 0) {
    try {
      const tids = selfPriority.raiseToRealtime(config.realtimePriority, loadSyscalls().syscalls);
      log(
        `daemon threads (${tids.length}) on SCHED_FIFO ${config.realtimePriority}, reset on fork`,
      );
      realtime = true;
    } catch (error) {
      log(
        `daemon threads stay on the fair class: ${error instanceof Error ? error.message : String(error)}`,
        "warn",
      );
    }
  }
  daemon.safety.realtime = realtime;
  // ...but a flood of requests must not hold a core at SCHED_FIFO: past the cap, the fair class.
  const rtCap = new RealtimeCap({
    capPercent: realtime ? config.rtCpuCapPercent : 0,
    every: ticker.every,
    demote: () => {
      selfPriority.restoreSelf();
      daemon.safety.realtime = false;
      daemon.safety.rt_cap_demotions++;
    },
    raise: () => {
      selfPriority.raiseToRealtime(config.realtimePriority, loadSyscalls().syscalls);
      daemon.safety.realtime = true;
    },
    log,
  });
  rtCap.start();

  onGuardianLost = (why) => {
    daemon.safety.guardian = false;
    daemon.safety.boosting = false;
    daemon.safety.guardian_deaths++;
    backend.suspend?.();
    log(
      `${why}: restored every task this daemon changed; no task is changed until a new guardian runs`,
      "warn",
    );
  };
  onGuardianBack = (pid) => {
    daemon.safety.guardian = true;
    daemon.safety.boosting = true;
    backend.resume?.();
    log(`a new guardian (pid ${pid}) runs; tasks are changed again`);
  };
  onGuardianRestored = (changed) => {
    daemon.safety.guardian_restores++;
    backend.resume?.();
    log(
      `the guardian restored ${changed} task(s) while this daemon did not answer; re-applied every level`,
      "warn",
    );
  };

  const metrics = new DaemonMetrics(
    daemon,
    config.metricsMaxFunctions,
    config.metricsFunctionLabels,
  );
  const api = new ApiServer({
    daemon,
    socketPath: config.socket,
    lineSocketPath: config.lineSocket === "none" ? null : config.lineSocket,
    socketGroup: config.socketGroup,
    maxBodyBytes: config.apiMaxBodyBytes,
    ratePerSecond: config.apiRatePerSecond,
    uidRatePerSecond: config.uidRatePerSecond,
    log,
    onRefusal: (reason) => {
      requestSeen();
      metrics.refusal(reason);
    },
    onRequest: (route, protocol) => {
      requestSeen();
      metrics.request(route, protocol);
    },
    every: ticker.every,
  });

  let platform: { stop(): Promise<void> } | undefined;
  let closing: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    closing ??= (async () => {
      log(`${why}: restoring every task and exiting`);
      rtCap.stop();
      daemon.stop();
      await platform?.stop().catch(() => {});
      await api.close().catch(() => {});
      await metrics.close().catch(() => {});
      await backend.close();
      touched.close();
      await guardian.stop();
      lock.release();
    })();
    return closing;
  };
  const reload = (): void => {
    try {
      const result = daemon.reload(reloadConfig());
      const next = daemon.config;
      const parts = [
        result.applied.length > 0
          ? `applied ${result.applied.map((k) => `${k}=${JSON.stringify(next[k])}`).join(", ")}`
          : "no reloadable setting changed",
        ...(result.policyFile !== undefined
          ? [`policy file ${result.policyFile} read again and applied`]
          : []),
        ...(result.needRestart.length > 0
          ? [`changed but kept until a restart: ${result.needRestart.join(", ")}`]
          : []),
      ];
      log(`SIGHUP: configuration reloaded: ${parts.join("; ")}`);
    } catch (error) {
      log(
        `SIGHUP: reload failed, the running configuration stays: ${error instanceof Error ? error.message : String(error)}`,
        "error",
      );
    }
  };
  const stop = (signal: string, exitCode: number): void => {
    // Once the servers and the backend are closed nothing may hold the event
    // loop (the guardian's handles are unref'd), so Node can end before the
    // exit below runs: the status must be set already.
    process.exitCode = exitCode;
    shutdown(signal).then(
      () => process.exit(exitCode),
      (error: unknown) => {
        log(`shutdown failed: ${String(error)}`, "error");
        process.exit(1);
      },
    );
  };

  try {
    await api.listen();
    log(
      `control API on ${config.socket}${api.lineSocketPath === null ? "" : `, line protocol on ${api.lineSocketPath}`}`,
    );
    if (config.metricsPort > 0) {
      const port = await metrics.listen(config.metricsHost, config.metricsPort);
      log(`metrics on http://${config.metricsHost}:${port}/metrics`);
    }
    if (config.metricsSocket !== undefined) {
      const { resolveGid } = await import("../frontend/api/socket-group.js");
      await metrics.listenUnix(
        config.metricsSocket,
        config.metricsSocketGroup === undefined ? undefined : resolveGid(config.metricsSocketGroup),
      );
      log(`metrics on unix socket ${config.metricsSocket}`);
    }
    if (checked.platform !== undefined) {
      const adapter = checked.platform;
      await adapter.start((event) => {
        if (event.rekeyed !== undefined) {
          log(
            `platform ${config.platform}: sandbox ${event.id} re-keyed from ${event.rekeyed.from} to ${event.fn} (by ${event.rekeyed.by})`,
          );
        }
        const op =
          event.type === "add"
            ? daemon.addSandbox(event.fn, event.cgroupPath)
            : daemon.removeSandbox(event.cgroupPath);
        op.catch((error: unknown) =>
          log(`platform ${event.type} ${event.cgroupPath}: ${String(error)}`, "warn"),
        );
      });
      // A hook's invocation tells the adapter which function a stem cell runs.
      const noteInvocation = adapter.noteInvocation?.bind(adapter);
      if (noteInvocation !== undefined)
        daemon.onInvocationStart((inv) => noteInvocation(inv.fn, inv.pid));
      platform = adapter;
      log(`platform adapter ${config.platform} started`);
    }
    daemon.start();
    log(
      config.policyFile !== undefined
        ? `applying ${config.policyFile} as is (not learning)`
        : `learning every ${config.learnPeriodMs} ms, a new function within ${config.newFunctionLearnMs} ms (estimator ${config.estimator}, α ${config.alpha}, β ${config.beta}, γ ${config.gamma}, θ ${config.theta}%, cap ${config.capMs} ms)`,
    );
    // A learned policy is logged as what changed (the whole table: `alps policy`, or debug).
    daemon.onPolicy(policyLogger(log));
  } catch (error) {
    await shutdown(`startup failed (${error instanceof Error ? error.message : String(error)})`);
    throw error;
  }
  signals.route({ reload, stop });
}
