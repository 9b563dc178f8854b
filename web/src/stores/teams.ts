import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import { api, unwrap, type Schemas } from '@/api/client'
import { PAGE_SIZE, useCursorList } from './paging'

export type Team = Schemas['TeamOut']
export type Member = Schemas['MemberOut']

/** Teams and their members (needs teams:admin). */
export const useTeamsStore = defineStore('teams', () => {
  const search = ref('')
  const list = useCursorList<Team>(async (cursor) =>
    unwrap(
      await api.GET('/api/teams', { params: { query: { q: search.value || undefined, limit: PAGE_SIZE, cursor } } }),
    ),
  )
  const members = shallowRef<Member[]>([])
  const same = (a: Team, b: Team) => a.id === b.id

  async function create(body: Schemas['TeamCreate']): Promise<Team> {
    const team = unwrap(await api.POST('/api/teams', { body }))
    await list.load()
    return team
  }

  async function update(id: string, body: Schemas['TeamUpdate']): Promise<Team> {
    const team = unwrap(await api.PATCH('/api/teams/{team_id}', { params: { path: { team_id: id } }, body }))
    list.replace(team, same)
    return team
  }

  async function get(id: string): Promise<Team> {
    return unwrap(await api.GET('/api/teams/{team_id}', { params: { path: { team_id: id } } }))
  }

  /** Every team (up to the API's page limit), for pickers. */
  async function options(): Promise<Team[]> {
    return unwrap(await api.GET('/api/teams', { params: { query: { limit: 500 } } })).items
  }

  async function loadMembers(teamId: string) {
    members.value = []
    members.value = unwrap(
      await api.GET('/api/teams/{team_id}/members', { params: { path: { team_id: teamId } } }),
    ).items
  }

  async function changeMembership(teamId: string, userId: string, add: boolean) {
    const params = { path: { team_id: teamId, user_id: userId } }
    unwrap(
      await (add
        ? api.PUT('/api/teams/{team_id}/members/{user_id}', { params })
        : api.DELETE('/api/teams/{team_id}/members/{user_id}', { params })),
    )
    await Promise.all([loadMembers(teamId), list.load()])
  }

  const addMember = (teamId: string, userId: string) => changeMembership(teamId, userId, true)
  const removeMember = (teamId: string, userId: string) => changeMembership(teamId, userId, false)

  return { search, ...list, members, create, update, get, options, loadMembers, addMember, removeMember }
})
