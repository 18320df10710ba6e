// make lint: ESLint (typescript-eslint's recommended rules) on every TypeScript file, the layers
// of each service kept apart (http → domain → store and clients), and the size of source files
// and functions held. Formatting is Prettier's; import circles are dependency-cruiser's
// (.dependency-cruiser.mjs).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * A layer may not import from these other layers of its service; from those listed in
 * `typesFrom`, it may import types only (`import type`), never code.
 */
function layer(name, forbidden, why, typesFrom = {}) {
  return {
    files: [`*/src/${name}/**/*.ts`],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbidden.map((other) => ({
              regex: `(^|/)${other}/`,
              message: `${name} must not import ${other.replace(/\(.*\)/, '')}: ${why}`,
            })),
            ...Object.entries(typesFrom).map(([other, typesWhy]) => ({
              regex: `(^|/)${other}/`,
              allowTypeImports: true,
              message: `${name} may import only types from ${other.replace(/\(.*\)/, '')}: ${typesWhy}`,
            })),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['**/dist/', '**/dist-lambda/', '**/node_modules/', 'test-results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // An unused argument named _x is there on purpose (a callback's signature); an unused
      // property taken out of a rest pattern is how a field is left out of a copy.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  layer('http', ['store', 'clients'], 'a route parses, calls one domain function and answers'),
  layer('domain', ['http'], 'the domain never sees a request'),
  // The domain owns its vocabulary (a customer, a webhook endpoint, a package; the shapes and
  // words of domain/model) and the store implements what the domain asks in those words: it may
  // use that vocabulary (pure data: types, schemas, constants), and names nothing else of the
  // domain but as types, running none of its code.
  layer('store', ['http', 'clients'], 'the store keeps data and knows nothing of who uses it', {
    'domain(?!/model)': 'the domain owns its vocabulary, and the store implements what the domain asks',
  }),
  layer('clients', ['http', 'domain'], 'a client speaks to another service and knows nothing of who uses it'),
  // The shape kept: a source file holds one concern, and a function reads top-down in one sitting.
  // Lines of code are counted, not blank lines or comments: the comments say why, and a limit that
  // counted them would be met by deleting the why rather than by splitting the code.
  {
    files: ['*/src/**/*.ts', 'packages/*/src/**/*.ts', 'middleware/web/**/*.ts'],
    // A test file is a list of cases and a generated file no one's to split: neither is held to this.
    ignores: ['**/*.test.ts', '**/*.bench.ts', '**/generated/**', '**/*.generated.ts'],
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  prettier,
  // After Prettier's config, which turns it off: Prettier wraps code at 120, but not strings or comments.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] } },
);
