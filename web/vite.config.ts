import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Same origin as the API: `npm run dev` proxies the API's paths to the local stack.
const api = process.env.WISP_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: Object.fromEntries(['/admin', '/portal', '/health', '/openapi.json'].map((p) => [p, api])),
  },
});
