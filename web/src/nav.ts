/** The navigation: each page with the permission it needs (none = everyone signed in). The router guards the same. */
export interface NavItem {
  name: string
  icon: string
  to: string
  permission?: string
}

export const NAV: NavItem[] = [
  { name: 'home', icon: 'mdi-view-dashboard-outline', to: '/' },
  { name: 'models', icon: 'mdi-cube-outline', to: '/models', permission: 'models:read' },
  { name: 'datasets', icon: 'mdi-database-outline', to: '/datasets', permission: 'datasets:read' },
  { name: 'training', icon: 'mdi-school-outline', to: '/training', permission: 'training:read' },
  { name: 'sweeps', icon: 'mdi-tune-variant', to: '/training/sweeps', permission: 'training:read' },
  { name: 'trainingQueue', icon: 'mdi-expansion-card-variant', to: '/training/queue', permission: 'training:read' },
  { name: 'experiments', icon: 'mdi-flask-outline', to: '/experiments', permission: 'training:read' },
  { name: 'deployments', icon: 'mdi-rocket-launch-outline', to: '/deployments', permission: 'deployments:read' },
  { name: 'playground', icon: 'mdi-chat-processing-outline', to: '/playground', permission: 'gateway:invoke' },
  { name: 'usage', icon: 'mdi-chart-line', to: '/gateway/usage', permission: 'gateway:invoke' },
  { name: 'routes', icon: 'mdi-routes', to: '/gateway/routes', permission: 'gateway:admin' },
  { name: 'apikeys', icon: 'mdi-key-variant', to: '/apikeys', permission: 'apikeys:write' },
  { name: 'users', icon: 'mdi-account-multiple-outline', to: '/admin/users', permission: 'users:admin' },
  { name: 'teams', icon: 'mdi-account-group-outline', to: '/admin/teams', permission: 'teams:admin' },
  { name: 'audit', icon: 'mdi-shield-search', to: '/audit', permission: 'audit:read' },
  { name: 'profile', icon: 'mdi-account-circle-outline', to: '/profile' },
]
