// Lint config: typescript-eslint recommended rules over src/, test/ and scripts/.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "dist/**",
      ".venv/**",
      ".venv-bench/**",
      "native/build-dev/**",
      "runs/**",
      "evaluation/**",
      "checkpoints/**",
      "logs/**",
      "native/build/**",
      "build/**",
      "models/**",
      "data/**",
      "notebooks/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
);
