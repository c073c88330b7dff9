// Type tests: checked by `npm run typecheck` (tsc), never run. Each line fails to compile if the
// public types drift: openShared/createShared overloads, SharedArray<D>, ShmArrayError['code'].
import { createShared, openShared, type ERROR_CODES, type SharedArray, type SharedHandle, type ShmArrayError } from '../dist/index.js';

/** true only when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expect = <T extends true>(): T => true as T;
declare const handle: SharedHandle;
declare const float64Handle: SharedHandle & { dtype: 'float64' };

export function typeTests(): void {
  expect<Equal<ReturnType<typeof openShared<'float64'>>['data'], Float64Array>>();
  const f64 = openShared('x.f64', [2, 2], { dtype: 'float64' });
  expect<Equal<typeof f64.data, Float64Array>>();
  const f32 = openShared('x.f32', [4]);
  expect<Equal<typeof f32.data, Float32Array>>();
  const fromHandle = openShared(handle);
  expect<Equal<typeof fromHandle, SharedArray>>();
  const typedHandle = openShared(float64Handle);
  expect<Equal<typeof typedHandle.data, Float64Array>>();
  const created = createShared('y.i32', [3], { dtype: 'int32' });
  expect<Equal<typeof created, SharedArray<'int32'>>>();
  expect<Equal<typeof created.data, Int32Array>>();
  expect<Equal<SharedArray<'uint8'>['data'], Uint8Array>>();
  expect<Equal<ShmArrayError['code'], keyof typeof ERROR_CODES>>();
  // @ts-expect-error: a dtype that does not exist
  createShared('z', [1], { dtype: 'complex64' });
  // @ts-expect-error: a mode that does not exist
  openShared('z', [1], { mode: 'w' });
}
