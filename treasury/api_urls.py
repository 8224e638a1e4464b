from rest_framework.routers import DefaultRouter

from treasury import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("treasury/accounts", api.AccountViewSet, basename="treasury-account")
router.register("treasury/balances", api.BalanceViewSet, basename="treasury-balance")
router.register("treasury/buffers", api.BufferViewSet, basename="treasury-buffer")
router.register("treasury/lendable", api.LendableViewSet, basename="treasury-lendable")

urlpatterns = [*router.urls]
