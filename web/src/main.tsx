import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import { createTheme, MantineProvider } from '@mantine/core';
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Route, Routes } from 'react-router-dom';

// Two applications on one origin: the operator console at / and the subscriber pages under /my/.
const Console = lazy(() => import('./console/ConsoleApp'));
const Portal = lazy(() => import('./portal/PortalApp'));

const theme = createTheme({
  primaryColor: 'indigo',
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  // WCAG AA contrast for dimmed text and filled badges
  colors: {},
  autoContrast: true,
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light">
      <BrowserRouter>
        <Suspense fallback={null}>
          <Routes>
            <Route path="/my/*" element={<Portal />} />
            <Route path="/*" element={<Console />} />
          </Routes>
        </Suspense>
      </BrowserRouter>
    </MantineProvider>
  </StrictMode>,
);
