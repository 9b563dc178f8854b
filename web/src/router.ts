import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuthStore } from '@/stores/auth'
import { useUiStore } from '@/stores/ui'
import { i18n } from '@/i18n'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    permission?: string
    /** The section a detail page belongs to (a NAV name): its breadcrumb and highlighted sidebar item. */
    parent?: string
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/views/auth/LoginView.vue'), meta: { public: true } },
  { path: '/', name: 'home', component: () => import('@/views/HomeView.vue') },
  {
    path: '/models',
    name: 'models',
    component: () => import('@/views/models/ModelsView.vue'),
    meta: { permission: 'models:read' },
  },
  {
    path: '/models/:id',
    name: 'model',
    component: () => import('@/views/models/ModelDetailView.vue'),
    meta: { permission: 'models:read', parent: 'models' },
  },
  {
    path: '/datasets',
    name: 'datasets',
    component: () => import('@/views/datasets/DatasetsView.vue'),
    meta: { permission: 'datasets:read' },
  },
  {
    path: '/datasets/:id',
    name: 'dataset',
    component: () => import('@/views/datasets/DatasetDetailView.vue'),
    meta: { permission: 'datasets:read', parent: 'datasets' },
  },
  {
    path: '/prompts',
    name: 'prompts',
    component: () => import('@/views/prompts/PromptsView.vue'),
    meta: { permission: 'prompts:read' },
  },
  {
    path: '/prompts/:name',
    name: 'prompt',
    component: () => import('@/views/prompts/PromptDetailView.vue'),
    meta: { permission: 'prompts:read', parent: 'prompts' },
  },
  {
    path: '/workflows',
    name: 'workflows',
    component: () => import('@/views/workflows/WorkflowsView.vue'),
    meta: { permission: 'agents:read' },
  },
  {
    path: '/workflows/:id',
    name: 'workflow',
    component: () => import('@/views/workflows/WorkflowBuilderView.vue'),
    meta: { permission: 'agents:read', parent: 'workflows' },
  },
  {
    path: '/templates',
    name: 'templates',
    component: () => import('@/views/templates/TemplatesView.vue'),
    meta: { permission: 'agents:read' },
  },
  {
    path: '/tools',
    name: 'tools',
    component: () => import('@/views/tools/ToolsView.vue'),
    meta: { permission: 'tools:read' },
  },
  {
    path: '/tools/:id',
    name: 'tool',
    component: () => import('@/views/tools/ToolDetailView.vue'),
    meta: { permission: 'tools:read', parent: 'tools' },
  },
  {
    path: '/agents',
    name: 'agents',
    component: () => import('@/views/agents/AgentsView.vue'),
    meta: { permission: 'agents:read' },
  },
  {
    path: '/agents/:id',
    name: 'agent',
    component: () => import('@/views/agents/AgentDetailView.vue'),
    meta: { permission: 'agents:read', parent: 'agents' },
  },
  {
    path: '/monitoring',
    name: 'monitoring',
    component: () => import('@/views/monitoring/MonitoringView.vue'),
    meta: { permission: 'infra:read' },
  },
  {
    path: '/monitoring/models/:route',
    name: 'model-dashboard',
    component: () => import('@/views/monitoring/ModelDashboardView.vue'),
    meta: { permission: 'infra:read', parent: 'monitoring' },
  },
  {
    path: '/alerts',
    name: 'alerts',
    component: () => import('@/views/alerts/AlertsView.vue'),
    meta: { permission: 'infra:read' },
  },
  {
    path: '/cost',
    name: 'cost',
    component: () => import('@/views/cost/CostView.vue'),
    meta: { permission: 'infra:read' },
  },
  {
    path: '/governance',
    name: 'governance',
    component: () => import('@/views/governance/GovernanceView.vue'),
  },
  {
    path: '/evaluation',
    name: 'evaluation',
    component: () => import('@/views/evaluation/EvaluationView.vue'),
    meta: { permission: 'eval:read' },
  },
  {
    path: '/evaluation/runs/:id',
    name: 'evaluation-run',
    component: () => import('@/views/evaluation/EvalRunView.vue'),
    meta: { permission: 'eval:read', parent: 'evaluation' },
  },
  {
    path: '/evaluation/runs/:id/report',
    name: 'evaluation-report',
    component: () => import('@/views/evaluation/EvalReportView.vue'),
    meta: { permission: 'eval:read', parent: 'evaluation' },
  },
  {
    path: '/evaluation/reviews/:id',
    name: 'eval-review',
    component: () => import('@/views/evaluation/ReviewQueueView.vue'),
    meta: { permission: 'eval:read', parent: 'evaluation' },
  },
  {
    path: '/evaluation/reviews/:id/annotate',
    name: 'eval-annotate',
    component: () => import('@/views/evaluation/AnnotateView.vue'),
    meta: { permission: 'eval:review', parent: 'evaluation' },
  },
  {
    path: '/evaluation/suites/:id',
    name: 'eval-suite',
    component: () => import('@/views/evaluation/EvalSuiteView.vue'),
    meta: { permission: 'eval:read', parent: 'evaluation' },
  },
  {
    path: '/evaluation/monitors/:id',
    name: 'eval-monitor',
    component: () => import('@/views/evaluation/QualityMonitorView.vue'),
    meta: { permission: 'eval:read', parent: 'evaluation' },
  },
  {
    path: '/playground',
    name: 'playground',
    component: () => import('@/views/gateway/PlaygroundView.vue'),
    meta: { permission: 'gateway:invoke' },
  },
  {
    path: '/gateway/usage',
    name: 'usage',
    component: () => import('@/views/gateway/UsageView.vue'),
    meta: { permission: 'gateway:invoke' },
  },
  {
    path: '/gateway/logs',
    name: 'logs',
    component: () => import('@/views/gateway/RequestLogsView.vue'),
    meta: { permission: 'gateway:invoke' },
  },
  {
    path: '/gateway/routes',
    name: 'routes',
    component: () => import('@/views/gateway/GatewayRoutesView.vue'),
    meta: { permission: 'gateway:admin' },
  },
  {
    path: '/training',
    name: 'training',
    component: () => import('@/views/training/JobsView.vue'),
    meta: { permission: 'training:read' },
  },
  {
    path: '/training/sweeps',
    name: 'training-sweeps',
    component: () => import('@/views/training/SweepsView.vue'),
    meta: { permission: 'training:read' },
  },
  {
    path: '/training/sweeps/:id',
    name: 'training-sweep',
    component: () => import('@/views/training/SweepDetailView.vue'),
    meta: { permission: 'training:read', parent: 'sweeps' },
  },
  {
    path: '/training/queue',
    name: 'training-queue',
    component: () => import('@/views/training/QueueView.vue'),
    meta: { permission: 'training:read' },
  },
  {
    path: '/training/jobs/:id',
    name: 'training-job',
    component: () => import('@/views/training/JobDetailView.vue'),
    meta: { permission: 'training:read', parent: 'training' },
  },
  {
    path: '/experiments',
    name: 'experiments',
    component: () => import('@/views/experiments/ExperimentsView.vue'),
    meta: { permission: 'training:read' },
  },
  {
    path: '/experiments/compare',
    name: 'experiments-compare',
    component: () => import('@/views/experiments/CompareView.vue'),
    meta: { permission: 'training:read', parent: 'experiments' },
  },
  {
    path: '/experiments/runs/:id',
    name: 'experiments-run',
    component: () => import('@/views/experiments/RunView.vue'),
    meta: { permission: 'training:read', parent: 'experiments' },
  },
  {
    path: '/deployments',
    name: 'deployments',
    component: () => import('@/views/serving/DeploymentsView.vue'),
    meta: { permission: 'deployments:read' },
  },
  {
    path: '/deployments/:id',
    name: 'deployment',
    component: () => import('@/views/serving/DeploymentDetailView.vue'),
    meta: { permission: 'deployments:read', parent: 'deployments' },
  },
  {
    path: '/apikeys',
    name: 'apikeys',
    component: () => import('@/views/apikeys/ApiKeysView.vue'),
    meta: { permission: 'apikeys:write' },
  },
  {
    path: '/admin/users',
    name: 'users',
    component: () => import('@/views/admin/UsersView.vue'),
    meta: { permission: 'users:admin' },
  },
  {
    path: '/admin/teams',
    name: 'teams',
    component: () => import('@/views/admin/TeamsView.vue'),
    meta: { permission: 'teams:admin' },
  },
  {
    path: '/audit',
    name: 'audit',
    component: () => import('@/views/audit/AuditLogView.vue'),
    meta: { permission: 'audit:read' },
  },
  { path: '/profile', name: 'profile', component: () => import('@/views/profile/ProfileView.vue') },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue') },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const auth = useAuthStore()
  if (!(await auth.restore())) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (!auth.can(to.meta.permission)) {
    useUiStore().notify(i18n.global.t('common.forbidden'), 'error')
    return { name: 'home' }
  }
  return true
})
