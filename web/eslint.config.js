// Lint for bugs: the recommended sets of eslint, typescript-eslint and eslint-plugin-vue (its findings as errors, so
// `eslint .` fails on them), plus the type-aware rules that catch a promise nobody awaits or whose rejection goes
// nowhere (mark a deliberate fire-and-forget with `void`). eslint-config-prettier comes last and switches off every
// rule that prettier's formatting already decides.
import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import prettier from 'eslint-config-prettier'
import vue from 'eslint-plugin-vue'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  globalIgnores(['dist/', 'src/api/schema.d.ts', 'openapi.json']),
  js.configs.recommended,
  tseslint.configs.recommended,
  vue.configs['flat/recommended-error'],
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.browser,
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] },
    },
  },
  {
    // Type-aware rules need the TypeScript program, which tsconfig.json defines for src/ only.
    files: ['src/**/*.ts', 'src/**/*.vue'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['tests/**', 'vite.config.ts', 'eslint.config.js'],
    languageOptions: { globals: { ...globals.node, ...globals.vitest } },
  },
  prettier,
)
