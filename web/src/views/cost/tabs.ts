import { defineAsyncComponent } from 'vue'
import type { PageTab } from '@/components/TabbedPage.vue'

/** The tabs of the Cost page (`/cost?tab=<value>`): spend dashboards, month-end forecast, what-if simulator, savings, semantic cache. */
export const COST_TABS: PageTab[] = [
  {
    value: 'overview',
    label: 'cost.overview.tab',
    icon: 'mdi-cash-multiple',
    component: defineAsyncComponent(() => import('./CostOverviewTab.vue')),
  },
  {
    value: 'forecast',
    label: 'cost.forecast.tab',
    icon: 'mdi-chart-bell-curve',
    component: defineAsyncComponent(() => import('./CostForecastTab.vue')),
  },
  {
    value: 'simulator',
    label: 'cost.simulator.tab',
    icon: 'mdi-calculator-variant-outline',
    component: defineAsyncComponent(() => import('./CostSimulatorTab.vue')),
  },
  {
    value: 'savings',
    label: 'cost.savings.tab',
    icon: 'mdi-piggy-bank-outline',
    component: defineAsyncComponent(() => import('./SavingsTab.vue')),
  },
  {
    value: 'cache',
    label: 'cost.cache.tab',
    icon: 'mdi-cached',
    component: defineAsyncComponent(() => import('./SemanticCacheTab.vue')),
  },
]
