/** The navigation: each page with the permission it needs (none = everyone signed in). The router guards the same. */
export interface NavItem {
  name: string
  icon: string
  to: string
  permission?: string
  group: NavGroup
}

/** The sidebar's sections, in order; `nav.groups.<name>` labels them. */
export const NAV_GROUPS = ['overview', 'build', 'serve', 'operate', 'admin'] as const
export type NavGroup = (typeof NAV_GROUPS)[number]

export const NAV: NavItem[] = [
  { name: 'home', icon: 'mdi-view-dashboard-outline', to: '/', group: 'overview' },
  { name: 'models', icon: 'mdi-cube-outline', to: '/models', permission: 'models:read', group: 'build' },
  { name: 'datasets', icon: 'mdi-database-outline', to: '/datasets', permission: 'datasets:read', group: 'build' },
  { name: 'training', icon: 'mdi-school-outline', to: '/training', permission: 'training:read', group: 'build' },
  { name: 'sweeps', icon: 'mdi-tune-variant', to: '/training/sweeps', permission: 'training:read', group: 'build' },
  {
    name: 'trainingQueue',
    icon: 'mdi-expansion-card-variant',
    to: '/training/queue',
    permission: 'training:read',
    group: 'operate',
  },
  { name: 'experiments', icon: 'mdi-flask-outline', to: '/experiments', permission: 'training:read', group: 'build' },
  { name: 'prompts', icon: 'mdi-text-box-edit-outline', to: '/prompts', permission: 'prompts:read', group: 'build' },
  { name: 'tools', icon: 'mdi-tools', to: '/tools', permission: 'tools:read', group: 'build' },
  { name: 'agents', icon: 'mdi-robot-outline', to: '/agents', permission: 'agents:read', group: 'build' },
  { name: 'workflows', icon: 'mdi-sitemap-outline', to: '/workflows', permission: 'agents:read', group: 'build' },
  { name: 'templates', icon: 'mdi-storefront-outline', to: '/templates', permission: 'agents:read', group: 'build' },
  {
    name: 'evaluation',
    icon: 'mdi-clipboard-check-outline',
    to: '/evaluation',
    permission: 'eval:read',
    group: 'build',
  },
  {
    name: 'deployments',
    icon: 'mdi-rocket-launch-outline',
    to: '/deployments',
    permission: 'deployments:read',
    group: 'serve',
  },
  {
    name: 'playground',
    icon: 'mdi-chat-processing-outline',
    to: '/playground',
    permission: 'gateway:invoke',
    group: 'serve',
  },
  { name: 'usage', icon: 'mdi-chart-line', to: '/gateway/usage', permission: 'gateway:invoke', group: 'operate' },
  {
    name: 'logs',
    icon: 'mdi-text-box-search-outline',
    to: '/gateway/logs',
    permission: 'gateway:invoke',
    group: 'operate',
  },
  { name: 'monitoring', icon: 'mdi-monitor-dashboard', to: '/monitoring', permission: 'infra:read', group: 'operate' },
  { name: 'alerts', icon: 'mdi-bell-outline', to: '/alerts', permission: 'infra:read', group: 'operate' },
  { name: 'cost', icon: 'mdi-cash-multiple', to: '/cost', permission: 'infra:read', group: 'operate' },
  { name: 'routes', icon: 'mdi-routes', to: '/gateway/routes', permission: 'gateway:admin', group: 'serve' },
  { name: 'apikeys', icon: 'mdi-key-variant', to: '/apikeys', permission: 'apikeys:write', group: 'admin' },
  {
    name: 'users',
    icon: 'mdi-account-multiple-outline',
    to: '/admin/users',
    permission: 'users:admin',
    group: 'admin',
  },
  { name: 'teams', icon: 'mdi-account-group-outline', to: '/admin/teams', permission: 'teams:admin', group: 'admin' },
  { name: 'governance', icon: 'mdi-shield-account-outline', to: '/governance', group: 'admin' },
  { name: 'audit', icon: 'mdi-shield-search', to: '/audit', permission: 'audit:read', group: 'admin' },
]
