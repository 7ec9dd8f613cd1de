// ESLint's flat config for the site's own browser code (webapp/static/js/): ES modules, run by `make lint`.
// The vendored builds (webapp/static/vendor/) are other projects' code and are not linted.
import js from '@eslint/js'
import globals from 'globals'

export default [
  { ignores: ['webapp/static/vendor/**', 'node_modules/**', '.venv/**', 'instance/**'] },
  js.configs.recommended,
  {
    files: ['webapp/static/js/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.browser },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      'no-implicit-globals': 'error',
      'no-unused-vars': ['error', { args: 'after-used' }],
    },
  },
]
