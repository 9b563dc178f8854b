import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import { mount } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { defineComponent, h, ref } from 'vue'
import { i18n, setLocale } from '@/i18n'
import ProviderDialog from '@/views/gateway/ProviderDialog.vue'
import { byTestId, freshPinia, mockApi, settle } from './helpers'

const NOW = '2026-03-01T09:00:00Z'
const PROVIDER = {
  id: 'p1',
  name: 'openai-prod',
  kind: 'openai',
  base_url: 'https://api.openai.com/v1',
  timeout_s: 60,
  has_api_key: true,
  external: true,
  created_at: NOW,
  updated_at: NOW,
}

let wrapper: VueWrapper | null = null

afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.restoreAllMocks()
  document.body.innerHTML = ''
})

async function openDialog() {
  const open = ref(false) // the dialog fills its form as it opens
  const Host = defineComponent({
    setup: () => () =>
      h(ProviderDialog, {
        modelValue: open.value,
        'onUpdate:modelValue': (v: boolean) => {
          open.value = v
        },
        provider: PROVIDER,
      }),
  })
  wrapper = mount(
    { template: '<v-app><v-main><Host /></v-main></v-app>', components: { Host } },
    { global: { plugins: [freshPinia(), i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
  open.value = true
  await settle()
}

async function type(testid: string, value: string) {
  const input = byTestId(testid) as HTMLInputElement
  input.value = value
  input.dispatchEvent(new Event('input'))
  await settle()
}

const submit = () => byTestId('provider-form-submit') as HTMLButtonElement

describe('provider dialog', () => {
  it('asks for the API key again when the address moves to another host', async () => {
    setLocale('en')
    const calls = mockApi({
      'PATCH /api/gateway/providers/p1': () => PROVIDER,
      'GET /api/gateway/providers': () => [PROVIDER],
    })
    await openDialog()
    expect(submit().disabled).toBe(false)
    await type('provider-form-url', 'https://api.openai.com/v2') // same host: the stored key stays
    expect(submit().disabled).toBe(false)

    await type('provider-form-url', 'https://collector.example.net/v1')
    expect(submit().disabled).toBe(true)
    expect(document.body.textContent).toContain('enter its API key again')
    await type('provider-form-key', 'sk-new')
    expect(submit().disabled).toBe(false)
    submit().click()
    await settle()
    expect(calls.find((c) => c.method === 'PATCH')!.body).toEqual({
      base_url: 'https://collector.example.net/v1',
      timeout_s: 60,
      external: true,
      api_key: 'sk-new',
    })
  })
})
