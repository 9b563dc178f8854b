import { defineAsyncComponent } from 'vue'
import type { PageTab } from '@/components/TabbedPage.vue'

/** The tabs of the Alerts page (`/alerts?tab=<value>`): alerts now, rules, delivery channels, silences, SLOs. */
export const ALERT_TABS: PageTab[] = [
  {
    value: 'active',
    label: 'alerts.active.tab',
    icon: 'mdi-bell-ring-outline',
    component: defineAsyncComponent(() => import('./ActiveAlertsTab.vue')),
  },
  {
    value: 'rules',
    label: 'alerts.rules.tab',
    icon: 'mdi-bell-cog-outline',
    component: defineAsyncComponent(() => import('./AlertRulesTab.vue')),
  },
  {
    value: 'channels',
    label: 'alerts.channels.tab',
    icon: 'mdi-send-outline',
    component: defineAsyncComponent(() => import('./AlertChannelsTab.vue')),
  },
  {
    value: 'silences',
    label: 'alerts.silences.tab',
    icon: 'mdi-bell-off-outline',
    component: defineAsyncComponent(() => import('./SilencesTab.vue')),
  },
  {
    value: 'slos',
    label: 'alerts.slos.tab',
    icon: 'mdi-target',
    component: defineAsyncComponent(() => import('./SlosTab.vue')),
  },
]
