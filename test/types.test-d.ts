// Type tests: checked by `npm run typecheck` (tsc), never run. Each line fails to compile if the
// public types drift: openShared/createShared overloads, SharedArray<D>, SharedHandle<D>,
// ShmArrayError['code'].
import { createShared, openShared, SharedCache, SharedStore, type AnySharedArray, type ERROR_CODES, type SharedArray, type SharedHandle, type ShmArrayError } from '../dist/index.js';

/** true only when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expect = <T extends true>(): T => true as T;
declare const handle: SharedHandle;
declare const float64Handle: SharedHandle<'float64'>;

export function typeTests(): void {
  expect<Equal<ReturnType<typeof openShared<'float64'>>['data'], Float64Array>>();
  const _f64 = openShared('x._f64', [2, 2], { dtype: 'float64' });
  expect<Equal<typeof _f64.data, Float64Array>>();
  const _f32 = openShared('x._f32', [4], { dtype: 'float32' });
  expect<Equal<typeof _f32.data, Float32Array>>();
  // Without a dtype the file may be a .npy of any dtype: no claim of float32.
  const _any = openShared('x.npy');
  expect<Equal<typeof _any, AnySharedArray>>();
  // …a discriminated union: checking the dtype narrows the data.
  if (_any.dtype === 'int32') expect<Equal<typeof _any.data, Int32Array>>();
  if (_any.dtype === 'float64') expect<Equal<typeof _any, SharedArray<'float64'>>>();
  // @ts-expect-error: a .npy opened without dtype is not known to be a Float32Array
  const _notF32: Float32Array = openShared('f64.npy').data;
  // A handle keeps its array's dtype: reopening a float32 array's handle gives a Float32Array.
  const _made = createShared('t.f32', [4]);
  expect<Equal<typeof _made.handle, SharedHandle<'float32'>>>();
  const _reopened = openShared(_made.handle);
  expect<Equal<typeof _reopened.data, Float32Array>>();
  const _fromHandle = openShared(handle);
  expect<Equal<typeof _fromHandle, AnySharedArray>>();
  if (_fromHandle.dtype === 'uint16') expect<Equal<typeof _fromHandle.data, Uint16Array>>();
  const _typedHandle = openShared(float64Handle);
  expect<Equal<typeof _typedHandle.data, Float64Array>>();
  const _created = createShared('y.i32', [3], { dtype: 'int32' });
  expect<Equal<typeof _created, SharedArray<'int32'>>>();
  expect<Equal<typeof _created.data, Int32Array>>();
  expect<Equal<SharedArray<'uint8'>['data'], Uint8Array>>();
  expect<Equal<ShmArrayError['code'], keyof typeof ERROR_CODES>>();
  // @ts-expect-error: a dtype that does not exist
  createShared('z', [1], { dtype: 'complex64' });
  // @ts-expect-error: a mode that does not exist
  openShared('z', [1], { mode: 'w' });
}

/** Extraction carries the dtype it is given (checked at run time); without one, narrow on dtype. */
export async function extractTypeTests(store: SharedStore, cache: SharedCache): Promise<void> {
  const [_f32] = await store.extractZip('a.zip', { columns: 4, dtype: 'float32' });
  if (_f32 !== undefined) expect<Equal<typeof _f32.data, Float32Array>>();
  const _i32 = await store.extractZip('a.zip', { dtype: 'int32' });
  expect<Equal<typeof _i32, SharedArray<'int32'>[]>>();
  const _all = await store.extractAll(['a.zip'], { columns: 2, dtype: 'float64', workers: 2 });
  expect<Equal<typeof _all, SharedArray<'float64'>[]>>();
  const _cached = await cache.extractZip('a.zip', { columns: 4, dtype: 'uint8' });
  expect<Equal<typeof _cached, SharedArray<'uint8'>[]>>();
  const [_untyped] = await store.extractZip('a.zip', { columns: 4 });
  if (_untyped !== undefined) {
    expect<Equal<typeof _untyped, AnySharedArray>>();
    if (_untyped.dtype === 'float32') expect<Equal<typeof _untyped.data, Float32Array>>();
  }
}
