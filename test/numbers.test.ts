// float16 and bfloat16 as shmarray reads and writes them where no typed array does (float16 on
// Node < 24, bfloat16 everywhere): decoding checked against the formats' definitions, encoding
// against decoding over every bit pattern, and against V8's own Math.f16round where it exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16FromBits, bfloat16ToBits, float16FromBits, float16ToBits, HAS_FLOAT16ARRAY } from '../dist/index.js';

test('float16 bits decode by the IEEE 754 binary16 definition: zeros, subnormals, normals, the largest, infinities, NaN', () => {
  assert.equal(float16FromBits(0x0000), 0);
  assert.ok(Object.is(float16FromBits(0x8000), -0));
  assert.equal(float16FromBits(0x0001), 2 ** -24);
  assert.equal(float16FromBits(0x03ff), 1023 * 2 ** -24);
  assert.equal(float16FromBits(0x0400), 2 ** -14);
  assert.equal(float16FromBits(0x3c00), 1);
  assert.equal(float16FromBits(0xc000), -2);
  assert.equal(float16FromBits(0x3555), 0.333251953125);
  assert.equal(float16FromBits(0x7bff), 65504);
  assert.equal(float16FromBits(0x7c00), Infinity);
  assert.equal(float16FromBits(0xfc00), -Infinity);
  assert.ok(Number.isNaN(float16FromBits(0x7e00)));
});

test('bfloat16 bits decode as the upper half of a float32', () => {
  const word = new Uint32Array(1);
  const f = new Float32Array(word.buffer);
  for (let h = 0; h < 65536; h += 97) {
    word[0] = h << 16;
    const expected = f[0] as number;
    const got = bfloat16FromBits(h);
    assert.ok(Object.is(got, expected) || (Number.isNaN(got) && Number.isNaN(expected)), `bits ${h.toString(16)}: ${got} vs ${expected}`);
  }
});

test('encoding gives back every non-NaN bit pattern of float16 and bfloat16; NaN encodes as a NaN', () => {
  for (let h = 0; h < 65536; h++) {
    const f16 = float16FromBits(h);
    if (!Number.isNaN(f16)) assert.equal(float16ToBits(f16), h, `float16 ${h.toString(16)} (${f16})`);
    const bf16 = bfloat16FromBits(h);
    if (!Number.isNaN(bf16)) assert.equal(bfloat16ToBits(bf16), h, `bfloat16 ${h.toString(16)} (${bf16})`);
  }
  assert.ok(Number.isNaN(float16FromBits(float16ToBits(NaN))));
  assert.ok(Number.isNaN(bfloat16FromBits(bfloat16ToBits(NaN))));
});

test('float16 encoding rounds to nearest, ties to even, straight from the double: halfway cases, overflow, underflow', () => {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  assert.equal(float16ToBits(1 + 2 ** -11), 0x3c00);
  assert.equal(float16ToBits(1 + 3 * 2 ** -11), 0x3c02);
  // Just above halfway rounds up (a float32 step first would have lost the difference).
  assert.equal(float16ToBits(1 + 2 ** -11 + 2 ** -40), 0x3c01);
  assert.equal(float16ToBits(65519.99), 0x7bff);
  assert.equal(float16ToBits(65520), 0x7c00, '65520 is halfway to 65536: to even, which overflows to Infinity');
  assert.equal(float16ToBits(-1e9), 0xfc00);
  assert.equal(float16ToBits(2 ** -25), 0x0000, 'half the smallest subnormal: ties to even (0)');
  assert.equal(float16ToBits(3 * 2 ** -25), 0x0002);
  assert.equal(float16ToBits(-0), 0x8000);
});

test('float16 encoding agrees with V8\'s Math.f16round on a million random doubles', { skip: !HAS_FLOAT16ARRAY && 'NOT RUN: this Node has no Float16Array / Math.f16round (Node ≥ 24 has)' }, () => {
  const f16round = (Math as unknown as { f16round: (x: number) => number }).f16round;
  let seed = 12345;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 1_000_000; i++) {
    const x = (random() - 0.5) * 2 ** (random() * 44 - 28);
    const ours = float16FromBits(float16ToBits(x));
    if (ours !== f16round(x)) assert.fail(`${x}: ${ours} vs Math.f16round ${f16round(x)}`);
  }
});

test('bfloat16 encoding of float32 values agrees with rounding the float32 bits to nearest even', () => {
  const word = new Uint32Array(1);
  const f = new Float32Array(word.buffer);
  let seed = 777;
  for (let i = 0; i < 200_000; i++) {
    word[0] = seed = (seed * 1664525 + 1013904223) >>> 0;
    const x = f[0] as number;
    if (!Number.isFinite(x)) continue;
    const bits = word[0] as number;
    const rounded = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
    // Where rounding carries into the exponent's top, float32 rounding overflows to Infinity: so does ours.
    if (bfloat16ToBits(x) !== rounded) assert.fail(`${x} (0x${bits.toString(16)}): 0x${bfloat16ToBits(x).toString(16)} vs 0x${rounded.toString(16)}`);
  }
});
