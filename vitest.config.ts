import { defineConfig } from "vitest/config";

// Native and model tests load MLX and a 135M model: give them room on a slow 2-core machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    reporters: ["default"],
  },
});
