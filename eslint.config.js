import Module from 'node:module';
import { sep } from 'node:path';
import js from '@eslint/js';

/**
 * typescript-eslint 8 parses with TypeScript's JavaScript API, which TypeScript 7 (the project's
 * compiler, native) does not have: inside node_modules, `typescript` resolves to TypeScript 6
 * (the devDependency `typescript-for-lint`) for the linter only. `tsc` still type-checks with 7.
 */
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const fromDependency = parent?.filename?.includes(`${sep}node_modules${sep}`);
  return resolveFilename.call(this, request === 'typescript' && fromDependency ? 'typescript-for-lint' : request, parent, ...rest);
};
const { default: tseslint } = await import('typescript-eslint');

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // a leading underscore marks what a signature or a destructuring must name but does not use
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // the fakes of Hyper-V and of the arrays decode vendor JSON shapes that have no types of ours
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
