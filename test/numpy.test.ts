// numpy on the other side, both ways, on the same pages: numpy writes into a file that a live
// shmarray worker has mapped 'r+', and the worker sees the writes without reopening anything.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createShared } from '../dist/index.js';
import { makePool, numpyPython, RUNTIMES, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-numpy-');
after(() => tmp.dispose());
const skip = numpyPython === undefined && 'NO NUMPY: install python3-numpy (.ci/run does) to run the numpy tests';

for (const runtime of RUNTIMES) {
  test(`numpy writes (np.load mmap_mode="r+") into a .npy a live ${runtime} worker has mapped 'r+'; the worker sees them`, { skip }, async () => {
    const path = tmp.path(`shared-${runtime}.npy`);
    const a = createShared(path, [100, 4], { dtype: 'float64' });
    a.data[5] = 1;
    const handle = a.handle;
    a.close();
    const pool = makePool(runtime, 'hold-open.mjs', 1);
    try {
      await pool.run({ op: 'open', handle });
      assert.equal(await pool.run({ op: 'read', index: 5 }), 1);
      execFileSync(numpyPython as string, ['-c', `import numpy as np\na = np.load(${JSON.stringify(path)}, mmap_mode='r+')\nassert a.shape == (100, 4) and a.dtype == np.float64\na[1, 1] = 42.5\na.flush()`]);
      assert.equal(await pool.run({ op: 'read', index: 5 }), 42.5, 'the same mapping shows numpy\'s write');
      await pool.run({ op: 'close' });
    } finally {
      await pool.destroy();
    }
  });
}
