import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, unwrap, type Schemas } from '@/api/client'
import { PAGE_SIZE, useCursorList } from './paging'

export type User = Schemas['UserOut']

/** User administration (needs users:admin). */
export const useUsersStore = defineStore('users', () => {
  const search = ref('')
  const list = useCursorList<User>(async (cursor) =>
    unwrap(
      await api.GET('/api/users', { params: { query: { q: search.value || undefined, limit: PAGE_SIZE, cursor } } }),
    ),
  )
  const same = (a: User, b: User) => a.id === b.id

  async function create(body: Schemas['UserCreate']): Promise<User> {
    const user = unwrap(await api.POST('/api/users', { body }))
    await list.load()
    return user
  }

  async function update(id: string, body: Schemas['UserUpdate']): Promise<User> {
    const user = unwrap(await api.PATCH('/api/users/{user_id}', { params: { path: { user_id: id } }, body }))
    list.replace(user, same)
    return user
  }

  async function resetPassword(id: string, newPassword: string) {
    unwrap(
      await api.POST('/api/users/{user_id}/password', {
        params: { path: { user_id: id } },
        body: { new_password: newPassword },
      }),
    )
  }

  /** Users matching a search, for pickers (e.g. adding team members). */
  async function find(q: string, limit = 20): Promise<User[]> {
    return unwrap(await api.GET('/api/users', { params: { query: { q: q || undefined, limit } } })).items
  }

  return { search, ...list, create, update, resetPassword, find }
})
