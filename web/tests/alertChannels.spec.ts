import { describe, expect, it } from 'vitest'
import {
  configBody,
  createBody,
  emptyForm,
  formOf,
  formProblems,
  recipients,
  target,
  type AlertChannel,
} from '@/api/alertChannels'

const stored = (kind: AlertChannel['kind'], config: Record<string, unknown>): AlertChannel => ({
  id: 'c1',
  name: '운영 알림',
  kind,
  team_id: 't1',
  team_name: '플랫폼',
  visibility: 'team',
  config,
  last_delivery: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
})

describe('alert channel form', () => {
  it('splits recipients on commas, semicolons, spaces and lines, without duplicates', () => {
    expect(recipients('a@x.io, b@x.io;\nc@x.io  a@x.io')).toEqual(['a@x.io', 'b@x.io', 'c@x.io'])
    expect(recipients(' , ')).toEqual([])
  })

  it("names each kind's missing or bad fields", () => {
    expect(formProblems(emptyForm())).toEqual(['name', 'url'])
    const hook = { ...emptyForm(), name: '웹훅', url: 'ftp://x.io' }
    expect(formProblems(hook)).toEqual(['url'])
    expect(formProblems({ ...hook, url: 'https://hooks.example.com/in' })).toEqual([])
    const mail = { ...emptyForm(), kind: 'email' as const, name: '메일', host: 'smtp.example.com', port: '70000' }
    expect(formProblems({ ...mail, from_address: 'x', to: 'a@x.io, nope', password: '비밀' })).toEqual([
      'port',
      'from',
      'to',
      'password',
    ])
    expect(formProblems({ ...mail, port: 25, from_address: 'a@x.io', to: 'b@x.io' })).toEqual([])
  })

  it('builds the create body of the chosen kind only', () => {
    const form = {
      ...emptyForm(),
      kind: 'email' as const,
      name: ' 메일 ',
      host: 'smtp.example.com',
      port: '2525',
      security: 'none' as const,
      from_address: 'a@x.io',
      to: 'b@x.io\nc@x.io',
      url: 'https://ignored.example.com',
    }
    expect(createBody(form)).toEqual({
      name: '메일',
      kind: 'email',
      visibility: 'team',
      config: {
        host: 'smtp.example.com',
        port: 2525,
        security: 'none',
        username: null,
        password: null,
        from_address: 'a@x.io',
        to: ['b@x.io', 'c@x.io'],
      },
    })
  })

  it('keeps stored secrets when their field is left blank on edit', () => {
    const slack = formOf(
      stored('slack', { webhook_url_hint: 'https://hooks.slack.com/…', webhook_url_configured: true }),
    )
    expect(slack.url).toBe('')
    expect(formProblems(slack, true)).toEqual([])
    expect(configBody(slack, true)).toEqual({})
    expect(configBody({ ...slack, url: 'https://hooks.slack.com/services/T/B/x' }, true)).toEqual({
      webhook_url: 'https://hooks.slack.com/services/T/B/x',
    })
    const mail = formOf(
      stored('email', {
        host: 'smtp.example.com',
        port: 465,
        security: 'ssl',
        username: 'alerts',
        from_address: 'a@x.io',
        to: ['b@x.io', 'c@x.io'],
        password_configured: true,
      }),
    )
    expect(mail.to).toBe('b@x.io, c@x.io')
    expect(configBody(mail, true)).not.toHaveProperty('password')
    expect(configBody({ ...mail, password: 'new-pass' }, true)).toMatchObject({ password: 'new-pass', port: 465 })
  })

  it('describes where a channel sends without secrets', () => {
    expect(target(stored('slack', { webhook_url_hint: 'https://hooks.slack.com/…' }))).toBe('https://hooks.slack.com/…')
    expect(target(stored('email', { to: ['a@x.io', 'b@x.io'] }))).toBe('a@x.io, b@x.io')
    expect(target(stored('alertmanager', { url: 'http://am:9093' }))).toBe('http://am:9093')
  })
})
