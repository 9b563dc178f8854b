import { defineAsyncComponent, type Component } from 'vue'

/**
 * The tabs of the Evaluation page (`/evaluation?tab=<value>`), in order. A tab is one line here: its value (in
 * the address), its label's i18n key, an icon, the permission it needs (none: anyone who may open the page) and
 * its component, loaded when first shown.
 */
export interface EvalTab {
  value: string
  label: string
  icon: string
  permission?: string
  component: Component
}

export const EVAL_TABS: EvalTab[] = [
  {
    value: 'runs',
    label: 'eval.runs.tab',
    icon: 'mdi-play-box-multiple-outline',
    component: defineAsyncComponent(() => import('./EvalRunsTab.vue')),
  },
  {
    value: 'sets',
    label: 'eval.sets.tab',
    icon: 'mdi-table-check',
    component: defineAsyncComponent(() => import('./EvalSetsTab.vue')),
  },
  {
    value: 'suites',
    label: 'eval.suites.tab',
    icon: 'mdi-clipboard-check-multiple-outline',
    component: defineAsyncComponent(() => import('./EvalSuitesTab.vue')),
  },
  {
    value: 'reviews',
    label: 'eval.review.tab',
    icon: 'mdi-account-check-outline',
    component: defineAsyncComponent(() => import('./ReviewQueuesTab.vue')),
  },
  {
    value: 'monitoring',
    label: 'eval.monitoring.tab',
    icon: 'mdi-chart-bell-curve-cumulative',
    component: defineAsyncComponent(() => import('./QualityMonitorsTab.vue')),
  },
]
