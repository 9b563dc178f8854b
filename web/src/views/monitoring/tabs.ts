import { defineAsyncComponent } from 'vue'
import type { PageTab } from '@/components/TabbedPage.vue'

/** The tabs of the Monitoring page (`/monitoring?tab=<value>`): one dashboard each (PRD §7.3 ①–④) and the usage anomalies. */
export const MONITORING_TABS: PageTab[] = [
  {
    value: 'system',
    label: 'monitoring.system.tab',
    icon: 'mdi-server-network',
    component: defineAsyncComponent(() => import('./SystemDashboard.vue')),
  },
  {
    value: 'models',
    label: 'monitoring.model.tab',
    icon: 'mdi-cube-scan',
    component: defineAsyncComponent(() => import('./ModelDashboards.vue')),
  },
  {
    value: 'training',
    label: 'monitoring.training.tab',
    icon: 'mdi-school-outline',
    component: defineAsyncComponent(() => import('./TrainingDashboard.vue')),
  },
  {
    value: 'data',
    label: 'monitoring.data.tab',
    icon: 'mdi-database-eye-outline',
    component: defineAsyncComponent(() => import('./DataDashboard.vue')),
  },
  {
    value: 'anomalies',
    label: 'monitoring.anomalies.tab',
    icon: 'mdi-chart-timeline-variant-shimmer',
    component: defineAsyncComponent(() => import('./AnomaliesTab.vue')),
  },
]
