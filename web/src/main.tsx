import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import {
  Badge,
  createTheme,
  defaultVariantColorsResolver,
  MantineProvider,
  Modal,
  parseThemeColor,
  type CSSVariablesResolver,
  type VariantColorsResolver,
} from '@mantine/core';
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Route, Routes } from 'react-router-dom';

// Two applications on one origin: the operator console at / and the subscriber pages under /my/.
const Console = lazy(() => import('./console/ConsoleApp'));
const Portal = lazy(() => import('./portal/PortalApp'));

// Coloured text on a light background (light, subtle, outline buttons; alerts) uses the darkest shade.
const variantColorResolver: VariantColorsResolver = (input) => {
  const colors = defaultVariantColorsResolver(input);
  if (['light', 'subtle', 'outline'].includes(input.variant)) {
    const parsed = parseThemeColor({ color: input.color || input.theme.primaryColor, theme: input.theme });
    if (parsed.isThemeColor) {
      const dark = `color-mix(in srgb, var(--mantine-color-${parsed.color}-9), black 35%)`;
      return { ...colors, color: dark, hoverColor: dark, border: input.variant === 'outline' ? `1px solid ${dark}` : colors.border };
    }
  }
  return colors;
};

const theme = createTheme({
  variantColorResolver,
  primaryColor: 'indigo',
  // WCAG AA contrast: white on the primary colour needs a dark shade; light badges get dark text
  primaryShade: 8,
  autoContrast: true,
  luminanceThreshold: 0.4,
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  components: {
    // a coloured dot beside dark text: the status colour without white-on-colour contrast problems
    Badge: Badge.extend({ defaultProps: { variant: 'dot', size: 'md' } }),
    Modal: Modal.extend({ defaultProps: { closeButtonProps: { 'aria-label': 'Close dialog' } } }),
  },
});

// Secondary text (descriptions, placeholders) dark enough for WCAG AA on white.
const cssVariables: CSSVariablesResolver = () => ({
  variables: {},
  light: { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)', '--mantine-color-placeholder': 'var(--mantine-color-gray-7)' },
  dark: {},
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light" cssVariablesResolver={cssVariables}>
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
