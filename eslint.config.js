// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The addon is loaded with createRequire; only the native door may do that.
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'node:module', importNames: ['createRequire'], message: 'Only src/core/native.ts loads native code (the addon).' },
        ],
      }],
    },
  },
  {
    // The door itself, and the test that calls the addon directly to reach its own argument checks.
    files: ['src/core/native.ts', 'test/native.test.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // pm2's ecosystem file is CommonJS (module.exports, __dirname).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node, ...globals.commonjs } },
  },
);
