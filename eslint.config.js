import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  // native/: the malloc-trim addon's C and its one-line CommonJS loader
  globalIgnores(['node_modules/', 'dist/', '.data/', '.tap/', 'coverage/', 'native/']),
  js.configs.recommended,
  // the TypeScript (src, routes, reports, migrations, test, bench, harness) is linted with its
  // types, from the tsconfig.json that holds each file: promises nobody awaits or catches, a promise
  // where a callback must return nothing, `any` leaking into the rows, values that print as
  // [object Object]
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname
      }
    }
  },
  {
    rules: {
      // async is how Fastify tells a plugin, hook or handler that finishes by returning from one
      // with a done callback, and how tap knows a test has ended: async without await is the norm
      '@typescript-eslint/require-await': 'off',
      // a rejection handed on as it came (typed unknown) is allowed, as only-throw-error allows it
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-control-regex': 'off'
    }
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tap queues a subtest and reports its failures itself; the promise t.test() returns is
      // only for those who want to wait on it, so a test file's t.test(...) calls stand alone
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: '@tapjs/test', name: 'test' }]
      }]
    }
  },
  {
    // the pages' scripts run as they are in the browser (no build): plain scripts, its globals
    files: ['public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['window', 'document', 'location', 'fetch', 'sessionStorage', 'URL', 'URLSearchParams', 'AbortController', 'HTMLElement', 'IntersectionObserver', 'setTimeout', 'clearTimeout'].map((name) => [name, 'readonly']))
    }
  },
  {
    // the build script runs as plain JavaScript under Node
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } }
  },
  {
    // plain JavaScript outside any tsconfig: no types to lint with
    files: ['public/**/*.js', 'eslint.config.js', 'scripts/**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked]
  }
)
