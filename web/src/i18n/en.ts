export default {
  app: { title: 'axops', subtitle: 'LLM Ops platform' },
  nav: { home: 'Home', apikeys: 'API keys', users: 'Users', teams: 'Teams', audit: 'Audit log', profile: 'Profile' },
  common: {
    cancel: 'Cancel', save: 'Save', create: 'Create', close: 'Close', confirm: 'Confirm', search: 'Search',
    logout: 'Log out', language: 'Language', loadMore: 'Load more', none: 'None', yes: 'Yes', no: 'No',
    forbidden: 'You do not have permission to open that page.', saved: 'Saved', required: 'Required',
  },
  roles: { admin: 'Admin', operator: 'Operator', developer: 'Developer', viewer: 'Viewer' },
  login: {
    title: 'Sign in to axops', username: 'Username', password: 'Password', submit: 'Sign in',
    failed: 'Sign-in failed',
  },
  home: {
    welcome: 'Welcome, {name}', role: 'Your role: {role}', teams: 'Teams', noTeams: 'You are not in any team yet.',
    permissions: 'What you can do', quick: 'Quick links',
  },
  users: {
    title: 'Users', create: 'New user', edit: 'Edit user', resetPassword: 'Reset password', username: 'Username',
    displayName: 'Display name', email: 'E-mail', role: 'Role', teams: 'Teams', active: 'Active',
    password: 'Password (12+ characters)', newPassword: 'New password (12+ characters)', created: 'User created',
    passwordReset: 'Password reset; the user\'s sessions have ended.', inactive: 'Inactive',
  },
  teams: {
    title: 'Teams', create: 'New team', name: 'Name', description: 'Description', members: 'Members',
    memberCount: 'Members', addMember: 'Add member', remove: 'Remove', created: 'Team created',
  },
  apikeys: {
    title: 'API keys', create: 'New API key', name: 'Name', prefix: 'Prefix', scopes: 'Scopes', team: 'Team',
    noTeam: 'No team', expires: 'Expires', expiresInDays: 'Expires in (days, empty = never)', lastUsed: 'Last used',
    status: 'Status', never: 'Never', revoke: 'Revoke', revokeConfirm: 'Revoke the key "{name}"? Calls using it will fail at once.',
    secretTitle: 'Copy your API key now', secretWarning: 'This is the only time the secret is shown. Store it safely.',
    copy: 'Copy', copied: 'Copied to the clipboard', active: 'Active', revoked: 'Revoked', expired: 'Expired',
    usage: 'Use it as: Authorization: Bearer <key>',
  },
  audit: {
    title: 'Audit log', actor: 'Actor', action: 'Action', resourceType: 'Resource type', resourceId: 'Resource id',
    since: 'From', until: 'To', apply: 'Apply', export: 'Export CSV', time: 'Time', resource: 'Resource',
    outcome: 'Outcome', summary: 'Summary', ip: 'IP', perDay: 'Events per day (loaded rows)', empty: 'No events match.',
  },
  profile: {
    title: 'Profile', changePassword: 'Change password', current: 'Current password',
    new: 'New password (12+ characters)', changed: 'Password changed; your other sessions have ended.',
    permissions: '{n} permissions',
  },
}
