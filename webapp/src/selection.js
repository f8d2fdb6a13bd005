// What the previous screen already loaded (the vet's card from the calendar), for the next one to show.
const vets = new Map();
export const rememberVet = (vet) => vet && vets.set(String(vet.id), vet);
export const rememberedVet = (id) => vets.get(String(id)) || null;
