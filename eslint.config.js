// make lint: ESLint (typescript-eslint's recommended rules) on every TypeScript file, and the
// layers of each service kept apart: http → domain → store and clients. Formatting is Prettier's.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** A layer may not import from these other layers of its service (each a folder, or a regular expression of paths). */
function layer(name, forbidden, why) {
  return {
    files: [`*/src/${name}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((other) => ({
            regex: `(^|/)${other}/`,
            message: `${name} must not import ${other.replace(/\(.*\)/, '')}: ${why}`,
          })),
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
  // The domain owns its vocabulary (domain/model: the shapes and words the store keeps too); the
  // store implements what the domain asks and may use that vocabulary, never the domain's logic.
  layer('store', ['http', 'domain(?!/model)', 'clients'], 'the store keeps data and knows nothing of who uses it'),
  layer('clients', ['http', 'domain'], 'a client speaks to another service and knows nothing of who uses it'),
  prettier,
  // After Prettier's config, which turns it off: Prettier wraps code at 120, but not strings or comments.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] } },
);
