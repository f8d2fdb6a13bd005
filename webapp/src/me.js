// The person using the app (GET /api/me), known before any screen renders.
import { createContext, useContext } from "react";

export const MeContext = createContext({ timezone: "Europe/Moscow", language: "ru", roles: [] });
export const useMe = () => useContext(MeContext);
