import '@mdi/font/css/materialdesignicons.css'
import 'vuetify/styles'
import { createVuetify } from 'vuetify'
import { createVueI18nAdapter } from 'vuetify/locale/adapters/vue-i18n'
import { useI18n } from 'vue-i18n'
import { i18n } from '@/i18n'

// The adapter's type wants an untyped I18n; ours is typed by its messages.
type AdapterI18n = Parameters<typeof createVueI18nAdapter>[0]['i18n']

export default createVuetify({
  locale: { adapter: createVueI18nAdapter({ i18n: i18n as unknown as AdapterI18n, useI18n }) },
  theme: {
    defaultTheme: 'light',
    themes: { light: { colors: { primary: '#1f5fbf', secondary: '#3d4a5c' } } },
  },
  defaults: {
    VTextField: { variant: 'outlined', density: 'comfortable' },
    VSelect: { variant: 'outlined', density: 'comfortable' },
    VAutocomplete: { variant: 'outlined', density: 'comfortable' },
    VTextarea: { variant: 'outlined', density: 'comfortable' },
  },
})
