export default {
  app: { title: 'axops', subtitle: 'LLM Ops 플랫폼' },
  nav: { home: '홈', apikeys: 'API 키', users: '사용자', teams: '팀', audit: '감사 로그', profile: '내 정보' },
  common: {
    cancel: '취소', save: '저장', create: '만들기', close: '닫기', confirm: '확인', search: '검색',
    logout: '로그아웃', language: '언어', loadMore: '더 보기', none: '없음', yes: '예', no: '아니요',
    forbidden: '이 페이지를 열 권한이 없습니다.', saved: '저장했습니다', required: '필수 항목입니다',
  },
  roles: { admin: '관리자', operator: '운영자', developer: '개발자', viewer: '조회자' },
  login: {
    title: 'axops 로그인', username: '사용자 이름', password: '비밀번호', submit: '로그인',
    failed: '로그인하지 못했습니다',
  },
  home: {
    welcome: '{name}님, 환영합니다', role: '역할: {role}', teams: '소속 팀', noTeams: '아직 소속된 팀이 없습니다.',
    permissions: '할 수 있는 일', quick: '바로 가기',
  },
  users: {
    title: '사용자', create: '새 사용자', edit: '사용자 편집', resetPassword: '비밀번호 재설정', username: '사용자 이름',
    displayName: '표시 이름', email: '이메일', role: '역할', teams: '팀', active: '활성',
    password: '비밀번호 (12자 이상)', newPassword: '새 비밀번호 (12자 이상)', created: '사용자를 만들었습니다',
    passwordReset: '비밀번호를 재설정했고, 해당 사용자의 세션을 모두 종료했습니다.', inactive: '비활성',
  },
  teams: {
    title: '팀', create: '새 팀', name: '이름', description: '설명', members: '구성원',
    memberCount: '구성원 수', addMember: '구성원 추가', remove: '제외', created: '팀을 만들었습니다',
  },
  apikeys: {
    title: 'API 키', create: '새 API 키', name: '이름', prefix: '접두어', scopes: '권한 범위', team: '팀',
    noTeam: '팀 없음', expires: '만료', expiresInDays: '만료 기간 (일, 비우면 만료 없음)', lastUsed: '최근 사용',
    status: '상태', never: '없음', revoke: '폐기', revokeConfirm: '"{name}" 키를 폐기할까요? 이 키를 쓰는 호출은 즉시 실패합니다.',
    secretTitle: 'API 키를 지금 복사하세요', secretWarning: '비밀 값은 이번 한 번만 보여 드립니다. 안전한 곳에 보관하세요.',
    copy: '복사', copied: '클립보드에 복사했습니다', active: '사용 중', revoked: '폐기됨', expired: '만료됨',
    usage: '사용법: Authorization: Bearer <키>',
  },
  audit: {
    title: '감사 로그', actor: '행위자', action: '작업', resourceType: '리소스 유형', resourceId: '리소스 ID',
    since: '시작', until: '끝', apply: '적용', export: 'CSV 내보내기', time: '시각', resource: '리소스',
    outcome: '결과', summary: '요약', ip: 'IP', perDay: '일별 이벤트 수 (불러온 항목 기준)', empty: '조건에 맞는 이벤트가 없습니다.',
  },
  profile: {
    title: '내 정보', changePassword: '비밀번호 변경', current: '현재 비밀번호',
    new: '새 비밀번호 (12자 이상)', changed: '비밀번호를 바꿨습니다. 다른 세션은 모두 종료했습니다.',
    permissions: '권한 {n}개',
  },
}
