// ESLint over the TypeScript sources, the examples, the tests and the scripts.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/', 'bench/build/', 'dist/', 'target/', 'node_modules/', '**/pkg/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs,ts}'],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: { ...globals.browser, ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Code that runs on pages, insecure ones too (an OBS browser source from a local file): nothing
    // that exists only in secure contexts.
    files: ['ts/**/*.ts', 'examples/**/*.js', 'tests/pages/**/*.js', 'bench/pages/**/*.js'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'crypto', property: 'randomUUID', message: 'secure contexts only: use crypto.getRandomValues' },
        { object: 'crypto', property: 'subtle', message: 'secure contexts only' },
        {
          object: 'navigator',
          property: 'locks',
          message: 'secure contexts only: elections belong to the worker, which falls back to the lease',
        },
      ],
    },
  },
);
