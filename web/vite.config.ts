import { defineConfig } from 'vite';
import tailwindcss from '@tailwindcss/vite';

// VITE_BASE: the path the site is served under ("/" by default; "./" for a sub-folder).
// VITE_API_BASE: the API origin baked in at build time (config.js overrides it at run time).
export default defineConfig({
  base: process.env.VITE_BASE || '/',
  plugins: [tailwindcss()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev`: the API of a local server on :8000.
    proxy: { '/api': 'http://127.0.0.1:8000', '/healthz': 'http://127.0.0.1:8000' },
  },
});
