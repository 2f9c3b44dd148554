# One VM action of an instant restore, through WMI: state; start / stop (Msvm_ComputerSystem
# RequestStateChange 2 Enabled / 3 Disabled, i.e. turn off); remove (Msvm_VirtualSystemManagementService
# DestroySystem); move (Msvm_VirtualSystemMigrationService MigrateVirtualSystemToHost to this host with
# an Msvm_VirtualSystemMigrationSettingData of MigrationType 32769 "Storage: migrates only the storage
# resources of the virtual system" (MSDOC msvm-virtualsystemmigrationsettingdata; Priority is read-only
# there, so it is not set), and each virtual hard disk's Msvm_StorageAllocationSettingData with its
# HostResource under the destination as NewResourceSettingData (MSDOC
# migratevirtualsystemtohost-msvm-virtualsystemmigrationservice). UNCONFIRMED (no Microsoft source):
# that this host's own name is the DestinationHost of a storage-only move, and that VMMS places each
# VHD at the HostResource given. So a move reads back where the realized VM's disks are and whether
# each file exists (Disks), for the caller to check. A VM that is gone is success for stop and remove.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$action = [string]$in.action
$vm = @(Get-HvsnapVms | Where-Object { $_.Name -eq [string]$in.vmId })
if ($vm.Count -eq 0) {
  if ($action -eq 'stop' -or $action -eq 'remove' -or $action -eq 'state') { ConvertTo-HvsnapJson ([ordered]@{ Gone = $true }); return }
  Stop-Hvsnap 'vm_not_found' "no VM with id $($in.vmId) on $env:COMPUTERNAME" @{ vm = [string]$in.vmId }
}
$vm = $vm[0]
$wait = [int]$in.waitMs
$call = $null
switch ($action) {
  'state' { }
  'start' { if ([int]$vm.EnabledState -ne 2) { $call = Invoke-HvsnapMethod $vm 'RequestStateChange' @{ RequestedState = [uint16]2 } $wait } }
  'stop' { if ([int]$vm.EnabledState -ne 3) { $call = Invoke-HvsnapMethod $vm 'RequestStateChange' @{ RequestedState = [uint16]3 } $wait } }
  'remove' {
    $vmms = Get-HvsnapService 'Msvm_VirtualSystemManagementService'
    $call = Invoke-HvsnapMethod $vmms 'DestroySystem' @{ AffectedSystem = $vm } $wait
  }
  'move' {
    $svc = Get-HvsnapService 'Msvm_VirtualSystemMigrationService'
    $msd = New-HvsnapSettings 'Msvm_VirtualSystemMigrationSettingData' @{ MigrationType = [uint16]32769 }
    $dest = ([string]$in.destinationDir).TrimEnd('\')
    $rasds = @()
    foreach ($sasd in @(Get-CimAssociatedInstance -InputObject (Get-HvsnapRealizedSettings $vm) -ResultClassName Msvm_StorageAllocationSettingData | Where-Object { $_.ResourceType -eq 31 })) {
      $file = Split-Path -Leaf ([string]@($sasd.HostResource)[0])
      $sasd.HostResource = @(Join-Path $dest $file)
      $rasds += ConvertTo-HvsnapEmbedded $sasd
    }
    $call = Invoke-HvsnapMethod $svc 'MigrateVirtualSystemToHost' @{ ComputerSystem = $vm; DestinationHost = $env:COMPUTERNAME; MigrationSettingData = (ConvertTo-HvsnapEmbedded $msd); NewResourceSettingData = [string[]]$rasds } $wait
  }
  default { Stop-Hvsnap 'input_invalid' "unknown VM action $action" @{ field = 'action' } }
}
$fresh = @(Get-HvsnapVms | Where-Object { $_.Name -eq [string]$in.vmId })
$state = $null
$disks = $null
if ($fresh.Count -gt 0) {
  $state = [int]$fresh[0].EnabledState
  if ($action -eq 'move') {
    # the read-back: HostResource of every virtual hard disk of the realized VM now, and whether the file is there
    $disks = @(Get-CimAssociatedInstance -InputObject (Get-HvsnapRealizedSettings $fresh[0]) -ResultClassName Msvm_StorageAllocationSettingData |
        Where-Object { $_.ResourceType -eq 31 } | ForEach-Object {
          $p = [string]@($_.HostResource)[0]
          [ordered]@{ Path = $p; Exists = [bool](Test-Path -LiteralPath $p) }
        })
  }
}
ConvertTo-HvsnapJson ([ordered]@{ Gone = ($fresh.Count -eq 0); EnabledState = $state; VmName = [string]$vm.ElementName; Result = $(if ($call) { $call.Result } else { $null }); Disks = $disks })
