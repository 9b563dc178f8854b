import { defineAsyncComponent } from 'vue'
import type { PageTab } from '@/components/TabbedPage.vue'

/** The tabs of the Governance page (`/governance?tab=<value>`): guardrail and access policies, violations,
 * approvals, compliance reports and the governance dashboard (PRD §5.9, §5.15, §7.3 ⑤). */
export const GOVERNANCE_TABS: PageTab[] = [
  {
    value: 'guardrails',
    label: 'governance.guardrails.tab',
    icon: 'mdi-shield-check-outline',
    component: defineAsyncComponent(() => import('./GuardrailsTab.vue')),
  },
  {
    value: 'access',
    label: 'governance.access.tab',
    icon: 'mdi-account-lock-outline',
    component: defineAsyncComponent(() => import('./AccessPoliciesTab.vue')),
  },
  {
    value: 'violations',
    label: 'governance.violations.tab',
    icon: 'mdi-alert-octagon-outline',
    permission: 'audit:read',
    component: defineAsyncComponent(() => import('./ViolationsTab.vue')),
  },
  {
    value: 'approvals',
    label: 'governance.approvals.tab',
    icon: 'mdi-stamper',
    component: defineAsyncComponent(() => import('./ApprovalsTab.vue')),
  },
  {
    value: 'reports',
    label: 'governance.reports.tab',
    icon: 'mdi-file-certificate-outline',
    permission: 'audit:read',
    component: defineAsyncComponent(() => import('./ComplianceReportsTab.vue')),
  },
  {
    value: 'dashboard',
    label: 'governance.dashboard.tab',
    icon: 'mdi-view-dashboard-variant-outline',
    permission: 'audit:read',
    component: defineAsyncComponent(() => import('./GovernanceDashboard.vue')),
  },
]
