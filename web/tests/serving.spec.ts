import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import DeploymentDetailView from '@/views/serving/DeploymentDetailView.vue'
import DeploymentsView from '@/views/serving/DeploymentsView.vue'
import { setLocale } from '@/i18n'
import { byTestId, json, mockApi, mountView, settle, signIn as signInAs } from './helpers'

// The page reads its id from the route; everything else uses mountView's memory router.
vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'd1' }, meta: {}, query: {} }),
}))
vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub' })
      },
    }),
  }
})
vi.setConfig({ testTimeout: 20_000 })

const DEPLOYMENT = {
  id: 'd1',
  name: 'demo-chat',
  team_id: 't1',
  model_id: 'm1',
  model_name: 'demo',
  version_id: 'v1',
  version: 1,
  engine: 'transformers',
  executor: 'local',
  replicas_min: 1,
  replicas_max: 2,
  replicas_desired: 1,
  resources: {},
  autoscale_target: 4,
  max_batch: 16,
  canary_of: null,
  canary_weight: 10,
  rollback_policy: {},
  pricing: {},
  status: 'ready',
  status_reason: null,
  replicas: [{ index: 0, state: 'ready', endpoint: 'http://127.0.0.1:1', restarts: 0, queued: 0, running: 0 }],
  events: [],
  endpoint: '/v1 model=demo-chat',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  ready_at: null,
  ready_seconds: null,
  stopped_at: null,
  traffic: { minutes: 60, requests: 1234, errors: 2, p95_ms: 412.4 },
}

let wrapper: VueWrapper | null = null
beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

const signIn = () => signInAs(['deployments:read', 'deployments:write'], { teams: [{ id: 't1', name: 'apps' }] })

describe('deployments', () => {
  it('list the last hour of traffic and p95, and 0 replicas for a stopped one', async () => {
    const stopped = { ...DEPLOYMENT, id: 'd2', name: 'old-chat', status: 'stopped', replicas: [], replicas_desired: 0 }
    mockApi({
      'GET /api/serving/deployments': () => [
        DEPLOYMENT,
        { ...stopped, traffic: { ...DEPLOYMENT.traffic, requests: 0, errors: 0, p95_ms: null } },
      ],
    })
    wrapper = await mountView(DeploymentsView, signIn())
    await settle()
    expect(byTestId('requests-demo-chat')!.textContent).toBe('1,234')
    expect(byTestId('p95-demo-chat')!.textContent).toBe('412 ms')
    expect(byTestId('replicas-old-chat')!.textContent).toBe('0 / 0')
    expect(byTestId('status-old-chat')!.textContent).toContain('중지됨')
  })

  it('show "not found" for an unknown id', async () => {
    mockApi({
      'GET /api/serving/deployments/d1': () =>
        json({ title: 'Not Found', status: 404, detail: 'No such deployment.' }, 404),
    })
    wrapper = await mountView(DeploymentDetailView, signIn())
    await settle()
    expect(byTestId('not-found')!.textContent).toContain('배포을(를) 찾을 수 없습니다')
  })

  it('title each chart with its unit', async () => {
    mockApi({
      'GET /api/serving/deployments/d1': () => DEPLOYMENT,
      'GET /api/serving/deployments': () => [DEPLOYMENT],
      'GET /api/serving/deployments/d1/metrics': () => ({ name: 'demo-chat', minutes: 30, series: [] }),
    })
    wrapper = await mountView(DeploymentDetailView, signIn())
    await settle()
    expect(byTestId('chart-title-latency')!.textContent).toContain('(ms)')
    expect(byTestId('chart-title-qps')!.textContent).toContain('req/s')
    expect(byTestId('deployment-status')!.textContent).toContain('준비됨')
  })
})
