/** Entry of the process in which `shmarray bench` runs one scenario: spec in, result out. */
import { runScenario, type ScenarioSpec } from './scenario.js';

process.once('message', (spec: ScenarioSpec) => {
  runScenario(spec).then(
    (result) => process.send?.({ ok: true, result }, () => process.disconnect()),
    (error: unknown) => {
      const e = error instanceof Error ? { ...error, message: error.message, stack: error.stack } : String(error);
      process.send?.({ ok: false, error: e }, () => process.disconnect());
    },
  );
});
