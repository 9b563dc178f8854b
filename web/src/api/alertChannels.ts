import { query, requestJson } from '@/api/http'

/** Alert channels and their deliveries (`/api/alerts/channels`, `/api/alerts/deliveries`); hand-typed until the
 * client is regenerated. Secrets are write-only: answers say `*_configured`. */

export type ChannelKind = 'slack' | 'email' | 'webhook' | 'alertmanager'
export type DeliveryStatus = 'pending' | 'sent' | 'failed'
export type Security = 'starttls' | 'ssl' | 'none'

export const CHANNEL_KINDS: ChannelKind[] = ['slack', 'email', 'webhook', 'alertmanager']

export interface LastDelivery {
  status: DeliveryStatus
  at: string
  attempts: number
  last_error: string | null
}

export interface AlertChannel {
  id: string
  name: string
  kind: ChannelKind
  team_id: string
  team_name: string
  visibility: 'team' | 'organization'
  config: Record<string, unknown>
  last_delivery: LastDelivery | null
  created_at: string
  updated_at: string
  secret?: string | null
}

export interface TestOutcome {
  ok: boolean
  status: number | null
  error: string | null
  duration_ms: number
}

export interface Delivery {
  id: string
  notification_id: string
  channel_id: string
  channel_name: string
  channel_kind: ChannelKind
  status: DeliveryStatus
  attempts: number
  next_attempt_at: string | null
  last_error: string | null
  response_status: number | null
  sent_at: string | null
  created_at: string
  rule_name: string | null
  notification_status: string | null
}

/** What the channel dialog edits: every kind's fields (only the chosen kind's are sent). */
export interface ChannelForm {
  name: string
  kind: ChannelKind
  visibility: 'team' | 'organization'
  team_id: string | null
  url: string // webhook, alertmanager; slack's webhook URL (blank on edit: keep the stored one)
  host: string
  port: number | string
  security: Security
  username: string
  password: string // blank on edit: keep the stored one
  from_address: string
  to: string // addresses separated by commas, semicolons, spaces or lines
}

export const KIND_ICONS: Record<ChannelKind, string> = {
  slack: 'mdi-slack',
  email: 'mdi-email-outline',
  webhook: 'mdi-webhook',
  alertmanager: 'mdi-bell-cog-outline',
}

export const DELIVERY_COLORS: Record<DeliveryStatus, string> = { pending: 'info', sent: 'success', failed: 'error' }
export const kindIcon = (kind: string) => KIND_ICONS[kind as ChannelKind] ?? 'mdi-send-outline'
export const deliveryColor = (status: string) => DELIVERY_COLORS[status as DeliveryStatus] ?? 'grey'

const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/

export function emptyForm(): ChannelForm {
  return {
    name: '',
    kind: 'webhook',
    visibility: 'team',
    team_id: null,
    url: '',
    host: '',
    port: 587,
    security: 'starttls',
    username: '',
    password: '',
    from_address: '',
    to: '',
  }
}

/** The form of a stored channel: secrets blank (left blank, they are kept). */
export function formOf(channel: AlertChannel): ChannelForm {
  const c = channel.config
  const text = (key: string) => (typeof c[key] === 'string' ? (c[key] as string) : '')
  return {
    ...emptyForm(),
    name: channel.name,
    kind: channel.kind,
    visibility: channel.visibility,
    team_id: channel.team_id,
    url: channel.kind === 'slack' ? '' : text('url'),
    host: text('host'),
    port: typeof c.port === 'number' ? c.port : 587,
    security: (text('security') || 'starttls') as Security,
    username: text('username'),
    from_address: text('from_address'),
    to: Array.isArray(c.to) ? (c.to as string[]).join(', ') : '',
  }
}

export function recipients(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).filter(Boolean))]
}

function httpUrl(value: string): boolean {
  try {
    const url = new URL(value.trim())
    return (url.protocol === 'http:' || url.protocol === 'https:') && !!url.hostname
  } catch {
    return false
  }
}

/** The fields the form still needs (keys of `alerts.channels.problems`); `editing`: blank secrets are kept. */
export function formProblems(form: ChannelForm, editing = false): string[] {
  const problems: string[] = []
  if (!form.name.trim()) problems.push('name')
  if (form.kind === 'slack' && !(editing && !form.url.trim()) && !httpUrl(form.url)) problems.push('url')
  if ((form.kind === 'webhook' || form.kind === 'alertmanager') && !httpUrl(form.url)) problems.push('url')
  if (form.kind === 'email') {
    if (!/^[A-Za-z0-9.:\-[\]]+$/.test(form.host.trim())) problems.push('host')
    const port = Number(form.port)
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push('port')
    if (!EMAIL.test(form.from_address.trim())) problems.push('from')
    const to = recipients(form.to)
    if (to.length === 0 || to.length > 50 || !to.every((a) => EMAIL.test(a))) problems.push('to')
    if (form.username && !PRINTABLE_ASCII.test(form.username)) problems.push('username')
    if (form.password && !PRINTABLE_ASCII.test(form.password)) problems.push('password')
  }
  return problems
}

/** The kind's configuration as the API takes it. On edit, a blank secret is left out (the stored one is kept). */
export function configBody(form: ChannelForm, editing = false): Record<string, unknown> {
  switch (form.kind) {
    case 'slack':
      return editing && !form.url.trim() ? {} : { webhook_url: form.url.trim() }
    case 'webhook':
    case 'alertmanager':
      return { url: form.url.trim() }
    case 'email': {
      const body: Record<string, unknown> = {
        host: form.host.trim(),
        port: Number(form.port),
        security: form.security,
        username: form.username.trim() || null,
        from_address: form.from_address.trim(),
        to: recipients(form.to),
      }
      if (form.password || !editing) body.password = form.password || null
      return body
    }
  }
}

export function createBody(form: ChannelForm): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: form.name.trim(),
    kind: form.kind,
    visibility: form.visibility,
    config: configBody(form),
  }
  if (form.team_id) body.team_id = form.team_id
  return body
}

/** A one-line description of where a channel sends (no secrets: the API never answers them). */
export function target(channel: AlertChannel): string {
  const c = channel.config
  if (channel.kind === 'slack') return String(c.webhook_url_hint ?? '')
  if (channel.kind === 'email') return Array.isArray(c.to) ? (c.to as string[]).join(', ') : ''
  return String(c.url ?? '')
}

export const listAlertChannels = () =>
  requestJson<{ items: AlertChannel[] }>('GET', '/api/alerts/channels').then((r) => r.items)
export const createAlertChannel = (body: Record<string, unknown>) =>
  requestJson<AlertChannel>('POST', '/api/alerts/channels', body)
export const updateAlertChannel = (id: string, body: Record<string, unknown>) =>
  requestJson<AlertChannel>('PATCH', `/api/alerts/channels/${id}`, body)
export const deleteAlertChannel = (id: string) => requestJson<void>('DELETE', `/api/alerts/channels/${id}`)
export const testAlertChannel = (id: string) => requestJson<TestOutcome>('POST', `/api/alerts/channels/${id}/test`)
export const listDeliveries = (params: { status?: DeliveryStatus | null; cursor?: string | null }) =>
  requestJson<{ items: Delivery[]; next_cursor: string | null }>(
    'GET',
    `/api/alerts/deliveries${query({ limit: 50, ...params })}`,
  )
