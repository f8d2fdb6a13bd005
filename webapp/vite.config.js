import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The app is served by the miniapp_api function from dist/ (index.html at /, hashed files under /assets/).
// The video room and its SDKs are a lazily imported chunk; everything else ships in the first load.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    target: "es2020",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
